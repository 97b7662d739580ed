"""Sustained requests/s on loopback: a bounded closed-loop load generator (plain asyncio).

Each step runs ``concurrency`` clients that POST /v1/ask back to back until the step's request
count is sent or its time is up, whichever comes first; every request is a distinct question
(cycling through the list only when it is shorter than the count). Steps go up in concurrency and
stop once one fails the bar twice over. The result is the highest rate among the steps that kept
p95 within the bar with no errors. The generator runs on the same cores as the server, so the
figure is a floor for what the service does with the whole machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import httpx

from .measure import Latency
from .server import process_cpu_seconds

P95_LIMIT_MS = 100.0


@dataclass(frozen=True)
class Step:
    concurrency: int
    sent: int
    errors: int
    seconds: float
    rps: float  # successful requests per second
    latency: Latency | None  # None when nothing succeeded
    # CPU milliseconds per request: the server process's, and this load generator's own
    # (None when the server's pid was not given): what the cores are spent on.
    server_cpu_ms: float | None = None
    client_cpu_ms: float | None = None

    def passes(self, p95_limit_ms: float) -> bool:
        return (
            self.errors == 0 and self.latency is not None and self.latency.p95_ms <= p95_limit_ms
        )


@dataclass(frozen=True)
class Throughput:
    p95_limit_ms: float
    steps: list[Step]
    best: Step | None  # highest rps with p95 within the limit and no errors


def best_step(steps: Sequence[Step], p95_limit_ms: float) -> Step | None:
    """The passing step with the highest rate (ties: the lower concurrency)."""
    passing = [s for s in steps if s.passes(p95_limit_ms)]
    return max(passing, key=lambda s: (s.rps, -s.concurrency), default=None)


def should_stop(step: Step, p95_limit_ms: float) -> bool:
    """Past saturation more clients only queue: stop at errors or at twice the p95 bar."""
    return step.errors > 0 or step.latency is None or step.latency.p95_ms > 2 * p95_limit_ms


async def _post(streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], host: str,
                question: str) -> int:
    """One POST /v1/ask on a kept-alive connection; returns the status (body read and dropped).

    Plain asyncio streams, not httpx: httpx can spend more CPU per request than the server
    does, and on a machine with few cores the generator would set the figure."""
    reader, writer = streams
    body = json.dumps({"question": question}).encode()
    writer.write(f"POST /v1/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _run_step(url: str, questions: Sequence[str], concurrency: int, requests: int,
                    max_seconds: float) -> Step:
    host, _, port = url.removeprefix("http://").partition(":")
    source = itertools.islice(itertools.cycle(questions), requests)
    samples: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        nonlocal errors
        streams = await asyncio.open_connection(host, int(port))
        try:
            for question in source:  # shared iterator: each question is sent once
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                try:
                    ok = await asyncio.wait_for(_post(streams, host, question), 30) == 200
                except (OSError, ValueError, IndexError, TimeoutError,
                        asyncio.IncompleteReadError):
                    ok = False
                    streams[1].close()
                    streams = await asyncio.open_connection(host, int(port))
                if ok:
                    samples.append((time.perf_counter() - t0) * 1e3)
                else:
                    errors += 1
        finally:
            streams[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Step(
        concurrency, len(samples) + errors, errors, round(seconds, 3),
        round(len(samples) / seconds, 1) if seconds > 0 else 0.0,
        Latency.of(samples) if samples else None,
    )


def _measured(url: str, questions: Sequence[str], concurrency: int, requests: int,
              max_seconds: float, server_pid: int | None) -> Step:
    """One step, with the CPU time the server and this process spent on it."""
    server_before = process_cpu_seconds(server_pid) if server_pid else None
    client_before = time.process_time()
    step = asyncio.run(_run_step(url, questions, concurrency, requests, max_seconds))
    client_s = time.process_time() - client_before
    server_after = process_cpu_seconds(server_pid) if server_pid else None
    if not step.sent:
        return step
    server_s = (server_after - server_before
                if server_after is not None and server_before is not None else None)
    return replace(
        step, client_cpu_ms=round(client_s * 1e3 / step.sent, 2),
        server_cpu_ms=None if server_s is None else round(server_s * 1e3 / step.sent, 2))


def sustained(url: str, questions: Sequence[str], *, concurrencies: Sequence[int] = (1, 2, 4, 8,
              16, 32), requests: int = 600, max_seconds: float = 20.0,
              p95_limit_ms: float = P95_LIMIT_MS, warmup: int = 20,
              server_pid: int | None = None) -> Throughput:
    """Step concurrency up; see the module docstring."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for question in list(reversed(questions))[:warmup]:
            client.post("/v1/ask", json={"question": question})
    steps = []
    for concurrency in concurrencies:
        step = _measured(url, questions, concurrency, requests, max_seconds, server_pid)
        steps.append(step)
        if should_stop(step, p95_limit_ms):
            break
    return Throughput(p95_limit_ms, steps, best_step(steps, p95_limit_ms))
