"""The loaded engine and how requests reach it.

Engine calls run on one dedicated worker thread: the question embedding is CPU-bound (several
threads would only contend) and a Hugging Face fast tokenizer must not be used from two threads at
once ("Already borrowed"). The queue in front of it is bounded; past the bound the service answers
503 with ``Retry-After`` at once instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from retriever.engine import Engine
from retriever.schema import Answer

from .metrics import Metrics
from .problems import Problem
from .settings import Settings

log = logging.getLogger("citeqa.service")

T = TypeVar("T")
EngineLoader = Callable[[Settings], Engine]
State = Literal["loading", "ready", "failed"]

CANARY_QUERY = "what do the documents say"


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


class EngineRunner:
    def __init__(self, settings: Settings, loader: EngineLoader, metrics: Metrics) -> None:
        self.settings = settings
        self.loader = loader
        self.metrics = metrics
        self.engine: Engine | None = None
        self.state: State = "loading"
        self.pending = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-engine")

    async def load(self) -> None:
        """Load and verify the index (run from the lifespan; /readyz turns 200 when it is done)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(self._executor, self._load_and_verify)
        except Exception as exc:  # any failure leaves the service live but not ready
            self.state = "failed"
            self.metrics.set_index(None)
            log.error("index not loaded: %s", exc)
            return
        self.engine, self.state = engine, "ready"
        self.metrics.set_index(engine.version)
        log.info("index %s loaded and verified in %.1fs", engine.version,
                 time.perf_counter() - started)

    def _load_and_verify(self) -> Engine:
        engine = self.loader(self.settings)
        verify_engine(engine)
        return engine

    def require(self) -> Engine:
        if self.engine is None:
            detail = ("the index is still loading" if self.state == "loading"
                      else "the index is not available")
            raise Problem(503, detail, headers={"Retry-After": "5"})
        return self.engine

    def submit(self, job: Callable[[Engine], T]) -> asyncio.Future[T]:
        """Queue ``job`` for the engine thread; raise 503 when the queue is full."""
        engine = self.require()
        if self.pending >= self.settings.max_pending_questions:
            raise Problem(503, "the service is busy; try again shortly",
                          headers={"Retry-After": "1"})
        self.pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, job, engine)

        def _done(_: object) -> None:
            self.pending -= 1

        future.add_done_callback(_done)
        return future

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

        return self.submit(job)

    async def run(self, job: Callable[[Engine], T]) -> T:
        return await self.wait(self.submit(job))

    async def wait(self, future: asyncio.Future[T]) -> T:
        """Await an engine job within the request deadline (the thread finishes it regardless)."""
        try:
            return await asyncio.wait_for(asyncio.shield(future),
                                          self.settings.request_timeout_s)
        except TimeoutError:
            raise Problem(503, "answering took too long; try again",
                          headers={"Retry-After": "1"}) from None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
