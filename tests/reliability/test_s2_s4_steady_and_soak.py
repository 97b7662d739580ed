"""S2 steady load and S4 soak against a real ``citeqa serve`` (real model, seed index).

S2: many closed-loop clients (each asks again as soon as it is answered) for a fixed time; the
queue and deadline are sized for them, so every request must be answered 200: no 5xx, no
timeouts. S4: open-loop load at half the measured capacity for a long time; no errors and the
server's resident memory must not creep (growth < 5% between the end of warm-up and the end).

CI: S2 50 clients × 10 s, S4 20 s; CITEQA_RELIABILITY_FULL=1: 200 clients × 60 s and 10 min
(the matrix's sizes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .common import FULL, copy_index, report
from .loadgen import (
    Sample,
    ServerProcess,
    capacity,
    closed_loop,
    fmt,
    open_loop,
    percentiles,
    rss_mb,
)
from .loadgen import serve_env as env_for

S2_CLIENTS, S2_SECONDS = (200, 60.0) if FULL else (50, 10.0)
S4_SECONDS = 600.0 if FULL else 20.0
QUESTIONS = (
    "When was the MoU between Liverpool and Oxford signed?",
    "How many jobs could the investment zone create?",
    "Who welcomed the partnership?",
    "Which universities are part of the partnership?",
    "What does iiCON stand for?",
    "Who won the 2026 FA Cup final?",
    "How much money is in the region's pipeline of projects?",
)


def _serve(tmp_path: Path, seed_index: Path, **settings: object) -> ServerProcess:
    index_dir = tmp_path / "index"
    copy_index(seed_index, index_dir)
    return ServerProcess(tmp_path, env_for(index_dir, tmp_path, **settings))


async def _steady(url: str) -> list[Sample]:
    stop = asyncio.Event()
    load = asyncio.create_task(closed_loop(url, S2_CLIENTS, QUESTIONS, stop))
    await asyncio.sleep(S2_SECONDS)
    stop.set()
    return await load


def test_s2_steady_load_answers_everything(tmp_path: Path, seed_index: Path) -> None:
    # Room for every client in the queue and a deadline that a full queue still meets.
    with _serve(tmp_path, seed_index, max_pending_questions=S2_CLIENTS + 8,
                request_timeout_s=120) as server:
        server.wait_ready(timeout=180)
        before = rss_mb(server.proc.pid)
        samples = asyncio.run(_steady(server.url))
        after = rss_mb(server.proc.pid)
    errors = [s for s in samples if s.status != 200]
    report(
        f"S2: {S2_CLIENTS} clients × {S2_SECONDS:.0f} s, seed index (36 chunks): "
        f"{len(samples)} requests, {len(samples) / S2_SECONDS:.1f} req/s, p50/p95/p99 "
        f"{fmt(percentiles([s.ms for s in samples]))} ms, {len(errors)} errors "
        f"(0 5xx, 0 timeouts); server RSS {before:.0f} → {after:.0f} MB"
    )
    assert samples and not errors, sorted({(s.status, s.error) for s in errors})


def test_s4_soak_at_half_capacity(tmp_path: Path, seed_index: Path) -> None:
    with _serve(tmp_path, seed_index) as server:
        server.wait_ready(timeout=180)
        rate = asyncio.run(capacity(server.url, QUESTIONS, 5.0)) / 2
        asyncio.run(open_loop(server.url, rate, 5.0, QUESTIONS))  # warm-up: caches, allocator
        start = rss_mb(server.proc.pid)
        samples = asyncio.run(open_loop(server.url, rate, S4_SECONDS, QUESTIONS))
        end = rss_mb(server.proc.pid)
    errors = [s for s in samples if s.status != 200]
    growth = (end - start) / start
    report(
        f"S4: soak {S4_SECONDS:.0f} s at half capacity ({rate:.1f} req/s): {len(samples)} "
        f"requests, {len(errors)} errors, p50/p95/p99 {fmt(percentiles([s.ms for s in samples]))}"
        f" ms; server RSS {start:.0f} → {end:.0f} MB ({100 * growth:+.1f}%)"
    )
    assert not errors, sorted({(s.status, s.error) for s in errors})
    assert growth < 0.05
