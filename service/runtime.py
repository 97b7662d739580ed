"""The served engine, how requests reach it, and how a newly published index replaces it.

Engine calls run on a small pool of engine threads (``engine_threads``, one per core by default):
ONNX Runtime, FAISS and numpy release the GIL, so while one question is embedded another is
scored. Each thread's model call uses one intra-op thread; more would only contend. The torch
backend gets one engine thread: a Hugging Face fast tokenizer must not be used from two threads
at once ("Already borrowed"). The queue in front of the pool has a lane per channel (lanes.py):
HTTP and Slack each have their own bound and take turns at the engine threads, so a flood on one
cannot take the other's share. Past its lane's bound a request gets 503 with ``Retry-After`` at
once instead of a latency that grows without limit.

Loading (at start and on every reload) runs on a separate loader thread so that answering goes
on meanwhile. The loader embeds too (the manifest's probe sentences and the canary query), so a
torch encoder, shared with the engine thread, serialises its calls (``SerialEncoder``); the ONNX
encoders are safe to call from several threads (a read-only tokenizer and session).

A request takes the served engine once (``submit`` / ``require``) and uses only that engine, so
every answer comes from, and cites, exactly one version. A reload swaps one reference; the old
engine keeps its index lease (which keeps garbage collection off its version) until the last job
queued on it has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from index.embed import Encoder
from index.manifest import IndexCorrupt, IndexMismatch
from index.store import CURRENT, IndexNotFound, current_version
from retriever.engine import Engine
from retriever.schema import Answer

from .lanes import LaneQueue
from .metrics import Metrics
from .problems import Problem
from .settings import Settings
from .wiring import limit_faiss_threads

log = logging.getLogger("citeqa.service")

T = TypeVar("T")
EngineLoader = Callable[[Settings], Engine]
State = Literal["loading", "ready", "failed"]
Outcome = Literal["swapped", "unchanged", "failed"]

CANARY_QUERY = "what do the documents say"

# Slack questions come only from signed requests, rate-limited per user, and an answer that
# misses the inline window is posted to response_url later: a deep lane turns a burst into later
# answers rather than "busy" notices (a question still queued at its deadline is dropped).
SLACK_PENDING_QUESTIONS = 512


def lane_of(channel: str) -> str:
    return "slack" if channel == "slack" else "http"


class IndexNotVerified(RuntimeError):
    pass


def verify_engine(engine: Engine) -> None:
    """A canary search through the whole query path: the model embeds, every retriever answers,
    and the passage it returns is exactly the document text its offsets point at."""
    if not engine.version:
        raise IndexNotVerified("the index has no version")
    for hit in engine.search(CANARY_QUERY, 3):
        doc = engine.document(hit.doc_id)
        if doc is None or doc.text[hit.passage_start : hit.passage_end] != hit.passage:
            raise IndexNotVerified("a passage does not match its document text")


def failure_reason(exc: BaseException) -> str:
    """A one-word class of load failure, safe to show to an operator (the log has the detail)."""
    if isinstance(exc, IndexNotFound):
        return "missing"
    if isinstance(exc, IndexMismatch):
        return "mismatched"
    if isinstance(exc, IndexCorrupt | IndexNotVerified):
        return "corrupt"
    return "error"


def engine_threads(settings: Settings) -> int:
    """How many questions are answered at once (see the module docstring)."""
    if settings.encoder_backend == "torch":
        return 1
    return settings.engine_threads or os.cpu_count() or 1


ENGINE_THREAD_NICENESS = 10


def yield_to_the_event_loop() -> None:
    """Run the calling (engine) thread at a lower scheduling priority than the event loop.

    Under overload the engine threads would otherwise take every core, and the event loop, which
    accepts connections and answers 503 at once, would wait behind them. The niceness only
    matters when the CPU is contended: an idle core still goes to the engine. Linux sets
    niceness per thread; elsewhere this would renice the whole process, so it is skipped."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + ENGINE_THREAD_NICENESS)


def start_engine_thread(faiss_threads: int | None) -> None:
    """Set up one engine thread: a lower priority, and FAISS's OpenMP thread limit, which OpenMP
    keeps per thread (limit_threads in the main thread never reaches the workers)."""
    yield_to_the_event_loop()
    limit_faiss_threads(faiss_threads)


def shareable(encoder: Encoder, settings: Settings) -> Encoder:
    """The encoder as the engine and loader threads may share it."""
    return SerialEncoder(encoder) if settings.encoder_backend == "torch" else encoder


def release_engine(engine: Engine) -> None:
    """Give up the engine's lease on its version (its data stays in memory, usable)."""
    engine.close()


class SerialEncoder:
    """An encoder whose calls never overlap: the loader thread and the engine thread share it."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.identity = inner.identity
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            return self.inner.encode(texts, progress=progress)


@dataclass(eq=False)
class Served:
    """One loaded engine and the jobs that hold it. Its lease goes once it is retired and idle."""

    engine: Engine
    jobs: int = 0
    retired: bool = False

    def job_done(self) -> None:
        self.jobs -= 1
        self._release_if_idle()

    def retire(self) -> None:
        self.retired = True
        self._release_if_idle()

    def _release_if_idle(self) -> None:
        if self.retired and self.jobs == 0:
            release_engine(self.engine)


@dataclass(frozen=True)
class ReloadResult:
    outcome: Outcome
    index_version: str | None  # what is served after the attempt
    previous_version: str | None
    reason: str | None = None  # for "failed": missing, mismatched, corrupt or error
    seconds: float = 0.0


class EngineRunner:
    def __init__(self, settings: Settings, loader: EngineLoader, metrics: Metrics) -> None:
        self.settings = settings
        self.loader = loader
        self.metrics = metrics
        self.state: State = "loading"
        self._served: Served | None = None
        # Slack first: when both lanes fill at once, a Slack command is not the one that waits.
        self._queue = LaneQueue({"slack": SLACK_PENDING_QUESTIONS,
                                 "http": settings.max_pending_questions})
        self._executor = ThreadPoolExecutor(max_workers=engine_threads(settings),
                                            thread_name_prefix="citeqa-engine",
                                            initializer=start_engine_thread,
                                            initargs=(settings.faiss_threads,))
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-loader")
        self._reload_lock = asyncio.Lock()
        self._seen_current: bytes | None = None  # CURRENT as the last load attempt read it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def engine(self) -> Engine | None:
        return self._served.engine if self._served is not None else None

    # ---- loading and reloading ---------------------------------------------------------------

    async def load(self) -> None:
        """Load and verify the index (run from the lifespan; /readyz turns 200 when it is done)."""
        self._loop = asyncio.get_running_loop()
        await self.reload()

    async def reload(self) -> ReloadResult:
        """Serve the version CURRENT names, if it is not served yet and it loads and verifies.

        A failure keeps the served version (if any), is logged and counted. Reloads run one at a
        time; a reload finding CURRENT unchanged does nothing."""
        async with self._reload_lock:
            started = time.perf_counter()
            before = self.engine.version if self.engine is not None else None
            if before is not None and _published(self.settings) == before:
                return self._count(ReloadResult("unchanged", before, before))
            self._seen_current = _current_bytes(self.settings)
            loop = asyncio.get_running_loop()
            try:
                engine = await loop.run_in_executor(self._loader, self._load_and_verify)
            except Exception as exc:  # any failure leaves the served version (or none) in place
                reason = failure_reason(exc)
                if self._served is None:
                    self.state = "failed"
                    self.metrics.set_index(None)
                log.error("index not loaded (%s): %s%s", reason, exc,
                          f"; still serving {before}" if before else "")
                return self._count(ReloadResult("failed", before, before, reason,
                                                time.perf_counter() - started))
            if engine.version == before:  # CURRENT moved back to what is served
                release_engine(engine)
                return self._count(ReloadResult("unchanged", before, before))
            self._swap(engine)
            seconds = time.perf_counter() - started
            log.info("index %s loaded and verified in %.2fs%s", engine.version, seconds,
                     f" (replacing {before})" if before else "")
            return self._count(ReloadResult("swapped", engine.version, before, None, seconds))

    def _load_and_verify(self) -> Engine:
        engine = self.loader(self.settings)
        try:
            verify_engine(engine)
        except BaseException:
            release_engine(engine)
            raise
        return engine

    def _swap(self, engine: Engine) -> None:
        old, self._served = self._served, Served(engine)
        self.state = "ready"
        self.metrics.set_index(engine.version)
        if old is not None:
            old.retire()

    def _count(self, result: ReloadResult) -> ReloadResult:
        self.metrics.reloads.labels(result.outcome).inc()
        return result

    def reload_soon(self) -> None:
        """Start a reload from any thread or a signal handler (SIGHUP in ``citeqa serve``)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, self.reload())

    async def watch(self, interval_s: float) -> None:
        """Reload whenever CURRENT's bytes differ from what the last load attempt read (so a
        refused version is not retried until something new is published)."""
        while True:
            await asyncio.sleep(interval_s)
            if _current_bytes(self.settings) != self._seen_current:
                await self.reload()

    def start_watching(self, interval_s: float) -> None:
        self._spawn(self.watch(interval_s))

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- answering ---------------------------------------------------------------------------

    def _require_served(self) -> Served:
        if self._served is None:
            detail = ("the index is still loading" if self.state == "loading"
                      else "the index is not available")
            raise Problem(503, detail, headers={"Retry-After": "5"})
        return self._served

    def require(self) -> Engine:
        """The served engine, for a request that uses it at once (no await in between)."""
        return self._require_served().engine

    def submit(self, job: Callable[[Engine], T], lane: str = "http") -> asyncio.Future[T]:
        """Queue ``job`` for the engine threads; raise 503 when its lane is full."""
        served = self._require_served()
        queued = self._queue.put(lane, functools.partial(job, served.engine))
        if queued is None:
            raise Problem(503, "the service is busy; try again shortly",
                          headers={"Retry-After": "1"})
        served.jobs += 1
        loop = asyncio.get_running_loop()

        def _done(_: object) -> None:
            # On the job's own completion (or its cancellation while queued), not the awaiting
            # future's: a request that gave up must not release the engine a thread still uses.
            with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
                loop.call_soon_threadsafe(served.job_done)

        queued.add_done_callback(_done)
        self._executor.submit(self._queue.run_next)
        return asyncio.wrap_future(queued)

    def submit_ask(
        self, question: str, top_k: int | None = None, *, debug: bool = False,
        channel: str = "http",
    ) -> asyncio.Future[Answer]:
        queued = time.perf_counter()

        def job(engine: Engine) -> Answer:
            queue_ms = (time.perf_counter() - queued) * 1e3
            answer = engine.ask(question, top_k, debug=debug)
            self.metrics.observe_answer(answer, channel, queue_ms)
            return answer

        return self.submit(job, lane_of(channel))

    async def run(self, job: Callable[[Engine], T]) -> T:
        return await self.wait(self.submit(job))

    async def wait(self, future: asyncio.Future[T], timeout_s: float | None = None) -> T:
        """Await an engine job within the request deadline (``request_timeout_s`` unless given).
        Past it a job still queued is dropped; one already running finishes regardless."""
        try:
            return await asyncio.wait_for(asyncio.shield(future),
                                          timeout_s or self.settings.request_timeout_s)
        except TimeoutError:
            future.cancel()
            raise Problem(503, "answering took too long; try again",
                          headers={"Retry-After": "1"}) from None

    async def aclose(self) -> None:
        """Stop watching and reloading, drop queued work and give up the served version's lease."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queue.cancel_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._loader.shutdown(wait=False, cancel_futures=True)
        if self._served is not None:
            self._served.retire()


def _published(settings: Settings) -> str | None:
    """The version CURRENT names; None when it is missing or unreadable (a load will say why)."""
    try:
        return current_version(settings.index_dir)
    except (IndexCorrupt, IndexMismatch, OSError):
        return None


def _current_bytes(settings: Settings) -> bytes | None:
    try:
        return (settings.index_dir / CURRENT).read_bytes()
    except OSError:
        return None
