"""``citeqa serve`` in a subprocess on a loopback port, for benchmarks that go through HTTP.

``serve`` yields once /readyz answers 200, with the time that took (the cold start) and the pid,
so callers can read the process's resident memory and CPU time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from service.ports import free_port

READY_TIMEOUT_S = 180.0

# Limits that would turn a load test into a rate-limit test, lifted for the benchmark's server.
UNLIMITED = {
    "CITEQA_RATE_LIMIT_PER_MINUTE": "1000000000",
    "CITEQA_RATE_LIMIT_BURST": "1000000000",
    "CITEQA_SLACK_RATE_LIMIT_PER_MINUTE": "1000000000",
    "CITEQA_SLACK_RATE_LIMIT_BURST": "1000000000",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class ServerFailed(RuntimeError):
    """The service did not start or did not become ready."""


@dataclass(frozen=True)
class Served:
    url: str
    ready_s: float  # spawn to the first /readyz 200
    pid: int



@contextmanager
def serve(env: dict[str, str], port: int | None = None,
          log: Path | None = None) -> Iterator[Served]:
    """Run ``citeqa serve`` with ``env`` added to this environment until the block ends."""
    port = port or free_port()
    started = time.perf_counter()
    sink = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=sink, stderr=sink,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, started)
        yield Served(url, time.perf_counter() - started, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if log:
            sink.close()  # type: ignore[union-attr]


def _wait_ready(proc: subprocess.Popen[bytes], url: str, started: float) -> None:
    with httpx.Client(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise ServerFailed("citeqa serve exited; run it by hand to see why")
            try:
                ready = client.get(url + "/readyz")
                if ready.status_code == 200:
                    return
                if ready.json().get("status") == "failed":
                    raise ServerFailed("the index failed to load (`citeqa ask` shows why)")
            except (httpx.HTTPError, ValueError):
                pass
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise ServerFailed(f"the service did not become ready in {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.01)


@dataclass(frozen=True)
class Memory:
    rss_bytes: int  # resident now
    peak_bytes: int  # high-water mark of resident memory (VmHWM)


def process_memory(pid: int) -> Memory | None:
    """Resident memory of another process (None where unreadable). psutil has no high-water
    mark, so VmHWM still comes from /proc/<pid>/status."""
    try:
        rss = int(psutil.Process(pid).memory_info().rss)
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        peak = next(int(ln.split()[1]) * 1024 for ln in status if ln.startswith("VmHWM:"))
    except (psutil.Error, OSError, ValueError, IndexError, StopIteration):
        return None
    return Memory(rss, peak)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds another process has used (None where unreadable)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system
