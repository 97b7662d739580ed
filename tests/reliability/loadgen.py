"""Shared pieces of the serving tests (S1–S6): a real ``citeqa serve`` subprocess, an
asyncio + httpx load generator on 127.0.0.1 that records every response, and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from eval.bench.server import process_memory
from service.ports import free_port
from tests.answer_fixture import with_answer_model
from tests.fake_citeqa import command
from tests.fake_encoder import HashingEncoder

from .common import REPO

CITEQA = Path(sys.executable).with_name("citeqa")
ADMIN_TOKEN = "reliability-admin-token-0123456789"
HTTP_TIMEOUT = 60.0



def serve_env(index_dir: Path, workdir: Path, *, fake_dim: int | None = None,
              **settings: Any) -> dict[str, str]:
    """The environment of a ``citeqa serve`` under test: its settings as CITEQA_* variables.
    ``fake_dim``: the server will run with the fake encoder of that dimension (see
    ``ServerProcess``), so the answer model is described as fitted for it."""
    values: dict[str, Any] = {
        "index_dir": index_dir, "feedback_db": workdir / "feedback.sqlite3",
        "rate_limit_per_minute": 1e9, "rate_limit_burst": 1_000_000,
        "admin_token": ADMIN_TOKEN, "torch_threads": 1,
    }
    values.update(settings)
    fake = None if fake_dim is None else HashingEncoder(dim=fake_dim)
    values = with_answer_model(values, workdir, fake)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env.update({f"CITEQA_{k.upper()}": str(v) for k, v in values.items()})
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO))
    return env


class ServerProcess:
    """``citeqa serve`` in its own process on a free loopback port (its log in ``workdir``);
    with ``fake_dim``, the same command with the fake encoder (tests/fake_citeqa.py)."""

    def __init__(self, workdir: Path, env: dict[str, str], *,
                 fake_dim: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        self._log = self.log_path.open("wb")
        # The working directory is the test's own, so no .env of the checkout is read.
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [str(CITEQA), *serve] if fake_dim is None else command(fake_dim, *serve),
            cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def get(self, path: str, timeout: float = HTTP_TIMEOUT) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def wait_live(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"citeqa serve exited:\n{self.log()}"
            try:
                if self.get("/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"citeqa serve did not come up:\n{self.log()}")

    def readyz(self) -> tuple[int, dict[str, Any]]:
        r = self.get("/readyz", timeout=10)
        return r.status_code, r.json()

    def wait_readyz(self, done: Callable[[int, dict[str, Any]], bool],
                    timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
        """Poll /readyz until ``done(status, body)``; returns the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.readyz()
            if done(status, body):
                return status, body
            assert time.monotonic() < deadline, f"/readyz stayed {status} {body}:\n{self.log()}"
            time.sleep(0.02)

    def wait_ready(self, timeout: float = 120.0) -> str:
        self.wait_live(timeout)
        status, body = self.wait_readyz(lambda s, b: s == 200 or b.get("status") == "failed",
                                        timeout)
        assert status == 200, f"the index did not load:\n{self.log()}"
        return str(body["index_version"])

    def terminate(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds until the process was gone)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        return rc, time.monotonic() - started


# ---- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    doc_id: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class Sample:
    """One request as a client saw it (times are time.monotonic() seconds)."""

    client: int
    start: float
    end: float
    status: int  # 0: no HTTP response (connection error or client timeout)
    version: str | None = None
    citations: tuple[Citation, ...] = ()
    retry_after: str | None = None
    error: str | None = None
    reconnected: bool = False  # sent again on a new connection (see Connection)

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1e3


def _citations(body: dict[str, Any]) -> tuple[Citation, ...]:
    cited = [*body.get("citations", []), *body.get("conflicts", [])]
    return tuple(Citation(c["doc_id"], c["start"], c["end"], c["quote"]) for c in cited)


class Connection:
    """One keep-alive HTTP/1.1 connection to the server under test, over plain asyncio streams.

    The load generator's client: on a machine with few cores httpx can spend more CPU per request
    than the server does, so with hundreds of clients the generator, not the server, set the
    latency.
    A request sent on a kept-alive connection that the server had just closed as idle (no byte of
    an answer came back) is sent again on a new connection, as browsers do; ``reconnects``
    counts those."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.reconnects = 0
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post_json(self, path: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
        return await self.post(path, json.dumps(payload).encode(),
                               {"Content-Type": "application/json"})

    async def post(self, path: str, body: bytes,
                   headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{lines}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for retry in (False, True):
            reused = self._streams is not None
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("the server closed the connection")
            except ConnectionError:
                await self.close()
                if reused and not retry:
                    self.reconnects += 1
                    continue
                raise
            return await self._response(status_line, reader)
        raise AssertionError("unreachable")

    async def _response(self, status_line: bytes,
                        reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        data = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), headers, data

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def ask_once(conn: Connection, question: str, client: int) -> Sample:
    start, reconnects = time.monotonic(), conn.reconnects
    try:
        status, headers, data = await asyncio.wait_for(
            conn.post_json("/v1/ask", {"question": question}), HTTP_TIMEOUT)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        await conn.close()
        return Sample(client, start, time.monotonic(), 0, error=type(exc).__name__)
    end, again = time.monotonic(), conn.reconnects > reconnects
    if status != 200:
        return Sample(client, start, end, status, retry_after=headers.get("retry-after"),
                      reconnected=again)
    body = json.loads(data)
    return Sample(client, start, end, 200, body["index_version"], _citations(body),
                  reconnected=again)


async def ask_on_new_connection(url: str, question: str, client: int) -> Sample:
    conn = Connection(url)
    try:
        return await ask_once(conn, question, client)
    finally:
        await conn.close()


async def closed_loop(url: str, clients: int, questions: Sequence[str],
                      stop: asyncio.Event) -> list[Sample]:
    """``clients`` clients, each on its own connection asking its next question as soon as the
    last one is answered, until ``stop`` is set."""
    samples: list[Sample] = []

    async def client(i: int) -> None:
        conn, n = Connection(url), i
        try:
            while not stop.is_set():
                samples.append(await ask_once(conn, questions[n % len(questions)], i))
                n += 1
        finally:
            await conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples


async def open_loop(url: str, rate: float, seconds: float, questions: Sequence[str],
                    sent: asyncio.Event | None = None) -> list[Sample]:
    """Requests sent at a fixed rate whatever the answers (load that does not back off), each on
    a new connection; ``sent`` is set once the last one has gone."""
    tasks = []
    started = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(
            ask_on_new_connection(url, questions[n % len(questions)], n)))
    if sent is not None:
        sent.set()
    return list(await asyncio.gather(*tasks))


async def capacity(url: str, questions: Sequence[str], seconds: float, clients: int = 4) -> float:
    """Answers per second with a few clients always waiting (the engine thread never idles)."""
    stop = asyncio.Event()
    load = asyncio.create_task(closed_loop(url, clients, questions, stop))
    await asyncio.sleep(seconds)
    stop.set()
    samples = await load
    return sum(1 for s in samples if s.status == 200) / seconds


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (the bench's /proc reader)."""
    memory = process_memory(pid)
    if memory is None:
        raise RuntimeError(f"no resident memory figure for pid {pid}")
    return memory.rss_bytes / 2**20


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> list[float]:
    if not values:
        return [float("nan")] * len(points)
    return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), points)]


def fmt(values: Sequence[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)
