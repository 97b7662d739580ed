"""S3: overload sheds instead of timing out. A real ``citeqa serve`` (real model, seed index, a
queue bound of 16) gets its measured capacity, then twice that as open-loop load (requests keep
coming whatever the answers). Every request is answered: 200, or 503/429 with ``Retry-After`` at
once; /healthz keeps answering; once the load stops, a new question is answered again.

CI: 5 s capacity, 10 s overload; CITEQA_RELIABILITY_FULL=1: 15 s and 60 s (the matrix's size).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from .common import FULL, copy_index, report
from .loadgen import (
    Sample,
    ServerProcess,
    ask_on_new_connection,
    capacity,
    fmt,
    open_loop,
    percentiles,
)
from .loadgen import serve_env as env_for

CAPACITY_S, OVERLOAD_S = (15.0, 60.0) if FULL else (5.0, 10.0)
QUEUE = 16
QUESTIONS = (
    "When was the MoU between Liverpool and Oxford signed?",
    "How many jobs could the investment zone create?",
    "Who welcomed the partnership?",
    "What is the Liverpool City Region innovation zone?",
    "Which universities are part of the partnership?",
    "What is the population of Liverpool?",
)


async def probe_health(url: str, stop: asyncio.Event) -> list[tuple[int, float]]:
    out = []
    async with httpx.AsyncClient(timeout=30) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = (await http.get(url + "/healthz")).status_code
            except httpx.HTTPError:
                status = 0
            out.append((status, (time.monotonic() - started) * 1e3))
            await asyncio.sleep(0.05)
    return out


async def recovery(url: str, sent: asyncio.Event) -> float:
    """Seconds from the last overload request sent to the first new question answered."""
    await sent.wait()
    stopped = time.monotonic()
    for n in range(10_000):
        if (await ask_on_new_connection(url, QUESTIONS[n % len(QUESTIONS)], -1)).status == 200:
            return time.monotonic() - stopped
        await asyncio.sleep(0.05)
    raise AssertionError("the service did not recover")


async def overload(url: str, rate: float) -> tuple[list[Sample], list[tuple[int, float]], float]:
    sent, stop = asyncio.Event(), asyncio.Event()
    health = asyncio.create_task(probe_health(url, stop))
    recovered = asyncio.create_task(recovery(url, sent))
    samples = await open_loop(url, rate, OVERLOAD_S, QUESTIONS, sent)
    recovery_s = await recovered
    stop.set()
    return samples, await health, recovery_s


def test_s3_overload_is_shed_with_retry_after(tmp_path: Path, seed_index: Path) -> None:
    index_dir = tmp_path / "index"
    copy_index(seed_index, index_dir)
    env = env_for(index_dir, tmp_path, max_pending_questions=QUEUE)
    with ServerProcess(tmp_path, env) as server:
        server.wait_ready(timeout=180)
        rate = asyncio.run(capacity(server.url, QUESTIONS, CAPACITY_S))
        samples, health, recovery_s = asyncio.run(overload(server.url, 2 * rate))
        alive = server.proc.poll() is None
    shed = [s for s in samples if s.status in (429, 503)]
    other = [s for s in samples if s.status not in (200, 429, 503)]
    shed_p99 = percentiles([s.ms for s in shed])[2]
    health_p99 = percentiles([ms for _, ms in health])[2]
    report(
        f"S3: shed {100 * len(shed) / len(samples):.1f}% of {len(samples)} requests at 2x "
        f"capacity ({rate:.1f}/s), shed-latency p99 {shed_p99:.1f} ms, recovery "
        f"{recovery_s:.2f} s; /healthz p99 {health_p99:.1f} ms; 200 p50/p95/p99 "
        f"{fmt(percentiles([s.ms for s in samples if s.status == 200]))} ms"
    )
    assert not other, sorted({(s.status, s.error) for s in other})
    assert shed, "twice the capacity was not enough to fill the queue"
    assert all(s.retry_after for s in shed)
    assert all(status == 200 for status, _ in health)
    assert alive
