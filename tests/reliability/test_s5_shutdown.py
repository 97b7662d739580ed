"""S5: graceful shutdown. 50 questions are in flight on a real ``citeqa serve`` (the real model,
one engine thread, so most wait in its queue) when it gets SIGTERM: every one is answered, new
connections are refused while it drains, and it exits 0 within uvicorn's graceful-shutdown time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from service.serve_cli import GRACEFUL_SHUTDOWN_S

from .common import copy_index, report
from .loadgen import Sample, ServerProcess, ask_on_new_connection, serve_env

IN_FLIGHT = 50
QUESTIONS = (
    "When was the MoU between Liverpool and Oxford signed?",
    "How many jobs could the investment zone create?",
    "Which universities are part of the partnership?",
    "What is the Liverpool City Region innovation zone?",
    "Who welcomed the partnership between the universities?",
)


def question(n: int) -> str:
    """Different per client (nothing in the service caches, but the log tells them apart)."""
    return f"{QUESTIONS[n % len(QUESTIONS)][:-1]} (client {n})?"


async def refused_after(url: str, deadline_s: float) -> bool:
    """True once a new connection is refused (the listening socket closed) within the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            async with httpx.AsyncClient(timeout=2) as http:  # a new connection each time
                await http.get(url + "/healthz")
        except httpx.ConnectError:
            return True
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)
    return False


async def drain(server: ServerProcess) -> tuple[list[Sample], float, bool, int, float]:
    tasks = [asyncio.create_task(ask_on_new_connection(server.url, question(n), n))
             for n in range(IN_FLIGHT)]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    signalled = time.monotonic()  # the first answer is back: the others are queued or running
    os.kill(server.proc.pid, signal.SIGTERM)
    refused = await refused_after(server.url, GRACEFUL_SHUTDOWN_S)
    samples = list(await asyncio.gather(*tasks))
    rc = await asyncio.to_thread(server.proc.wait, 60)
    return samples, signalled, refused, rc, time.monotonic() - signalled


def test_s5_sigterm_drains_in_flight_requests(tmp_path: Path, seed_index: Path) -> None:
    index_dir = tmp_path / "index"
    copy_index(seed_index, index_dir)
    with ServerProcess(tmp_path, serve_env(index_dir, tmp_path)) as server:
        server.wait_ready(timeout=180)
        samples, signalled, refused, rc, exit_s = asyncio.run(drain(server))
        log = server.log()
    answered = [s for s in samples if s.status == 200]
    in_flight = sum(1 for s in samples if s.end > signalled)
    report(
        f"S5: {len(answered)}/{IN_FLIGHT} drained, exit {rc} in {exit_s:.2f} s "
        f"({in_flight} still in flight at SIGTERM; new connections refused: {refused}; "
        f"graceful limit {GRACEFUL_SHUTDOWN_S} s)"
    )
    assert len(answered) == IN_FLIGHT, sorted({(s.status, s.error) for s in samples})
    assert in_flight >= IN_FLIGHT // 2  # the signal really came while most were in flight
    assert refused
    assert rc == 0, log
    assert "Finished server process" in log
