"""S1: hot swap under load. A real ``citeqa serve`` answers N concurrent loopback clients while an
ingest process publishes a new version (one marker document changed, so its text and offsets
differ per version) and the server is told to reload, alternately by ``POST /admin/reload`` and by
SIGHUP. Every response is recorded and checked Jepsen-style afterwards:

- no errors: every request got 200 (the queue bound is above the client count, so nothing is shed);
- every quote cited equals the text of *that response's* version at the cited offsets;
- a request sent after a swap completed never sees an older version, and each client's versions
  never go backwards;
- retired versions are released: after the run, garbage collection can remove them.

CI: 50 clients, 10 swaps; CITEQA_RELIABILITY_FULL=1: 200 clients, 30 swaps (every 2 s).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from index.store import list_versions

from .common import DIM, FULL, REPO, make_corpus, report
from .loadgen import (
    ADMIN_TOKEN,
    Sample,
    ServerProcess,
    closed_loop,
    fmt,
    percentiles,
    serve_env,
)
from .publisher import Publisher

CLIENTS, SWAPS, INTERVAL_S = (200, 30, 2.0) if FULL else (50, 10, 1.0)
QUESTIONS = (
    "Which marker is unique to this build?",
    "When did Liverpool and Oxford sign a partnership?",
    "How many jobs could the innovation zone create?",
    "When did the launchpad open?",
    "What does the trial note say about the Wirral hub?",
)

Versions = dict[str, dict[str, str]]  # version -> doc_id -> text
Swap = tuple[float, str]  # (monotonic time the swap was seen complete, version)


def cross_version_citations(samples: list[Sample], versions: Versions) -> list[str]:
    bad = []
    for s in samples:
        if s.status != 200:
            continue
        docs = versions.get(s.version or "")
        if docs is None:
            bad.append(f"{s.version} was never published")
            continue
        for c in s.citations:
            text = docs.get(c.doc_id)
            if text is None or text[c.start : c.end] != c.quote:
                bad.append(f"{s.version} {c.doc_id} {c.start}-{c.end} {c.quote[:60]!r}")
    return bad


def stale_reads(samples: list[Sample], swaps: list[Swap]) -> list[str]:
    """Requests sent after a swap was complete that were answered from an older version."""
    times = [t for t, _ in swaps]
    bad = []
    for s in samples:
        done = bisect.bisect_right(times, s.start)
        if s.status == 200 and done and (s.version or "") < swaps[done - 1][1]:
            bad.append(f"client {s.client} got {s.version} after {swaps[done - 1][1]} was live")
    return bad


def backwards(samples: list[Sample]) -> list[str]:
    by_client: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        if s.status == 200:
            by_client[s.client].append(s)
    bad = []
    for client, seq in by_client.items():
        seq.sort(key=lambda s: s.start)
        for a, b in zip(seq, seq[1:], strict=False):
            if (b.version or "") < (a.version or ""):
                bad.append(f"client {client}: {a.version} then {b.version}")
    return bad


async def swap_versions(server: ServerProcess, publisher: Publisher, versions: Versions,
                        swaps: list[Swap]) -> None:
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(timeout=60) as http:
        for i in range(1, SWAPS + 1):
            started = time.monotonic()
            published = await asyncio.to_thread(publisher.publish, f"m{i}")
            version = published["version"]
            versions[version] = published["docs"]
            if i % 2:
                r = await http.post(server.url + "/admin/reload", headers=headers)
                assert r.status_code == 200 and r.json()["index_version"] == version, r.text
            else:
                os.kill(server.proc.pid, signal.SIGHUP)
                while (await http.get(server.url + "/readyz")).json().get(
                        "index_version") != version:
                    await asyncio.sleep(0.01)
            swaps.append((time.monotonic(), version))
            await asyncio.sleep(max(0.0, started + INTERVAL_S - time.monotonic()))


async def load_phase(server: ServerProcess, seconds: float | None = None,
                     swapper: Any = None) -> list[Sample]:
    stop = asyncio.Event()
    load = asyncio.create_task(closed_loop(server.url, CLIENTS, QUESTIONS, stop))
    await asyncio.sleep(0.5)  # every client has its connection before swapping starts
    if swapper is not None:
        await swapper
    else:
        await asyncio.sleep(seconds or 0.0)
    stop.set()
    return await load


def test_s1_hot_swap_under_load(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    corpus = make_corpus(tmp_path, "m0")
    env = serve_env(index_dir, tmp_path, fake_dim=DIM,
                    max_pending_questions=4 * CLIENTS, limit_concurrency=4 * CLIENTS)
    versions: Versions = {}
    swaps: list[Swap] = []
    with Publisher(index_dir, corpus, {**os.environ, "PYTHONPATH": str(REPO)}) as publisher:
        first = publisher.publish("m0")
        versions[first["version"]] = first["docs"]
        with ServerProcess(tmp_path, env, fake_dim=DIM) as server:
            assert server.wait_ready() == first["version"]
            started = time.monotonic()
            with_swaps = asyncio.run(
                load_phase(server, swapper=swap_versions(server, publisher, versions, swaps)))
            swap_seconds = time.monotonic() - started
            without = asyncio.run(load_phase(server, seconds=swap_seconds))
            served_last = server.readyz()[1]["index_version"]
            # One more publish while the server still runs: its garbage collection must find
            # every retired version's lease released (a leaked lease would keep the version).
            publisher.publish("final")
            remaining = list_versions(index_dir)

    samples = with_swaps + without
    errors = [s for s in samples if s.status != 200]
    cross = cross_version_citations(samples, versions)
    stale = stale_reads(with_swaps, swaps)
    back = backwards(with_swaps)
    p_with = percentiles([s.ms for s in with_swaps])
    p_without = percentiles([s.ms for s in without])
    seen = {s.version for s in with_swaps if s.status == 200}
    report(
        f"S1: {len(samples)} requests, {len(errors)} errors, {len(cross)} cross-version "
        f"citations, {len(swaps)} swaps; p50/p95/p99 {fmt(p_with)} ms with swaps vs "
        f"{fmt(p_without)} without (p99 ratio {p_with[2] / p_without[2]:.2f})"
    )
    print(f"S1 detail: {CLIENTS} clients, {len(with_swaps)} requests during swaps over "
          f"{swap_seconds:.1f}s, {len(seen)} versions served, {len(stale)} stale reads, "
          f"{len(back)} backward steps, {sum(s.reconnected for s in samples)} requests resent on a "
          f"new connection, versions left after GC: {remaining}")
    assert not errors, sorted({(s.status, s.error) for s in errors})
    assert not cross, cross[:10]
    assert not stale, stale[:10]
    assert not back, back[:10]
    assert len(swaps) == SWAPS and served_last == swaps[-1][1]
    assert len(seen) >= SWAPS  # the clients really saw the versions change under them
    # Every retired version's lease was released: GC kept only what it always keeps.
    assert len(remaining) <= 3, remaining
