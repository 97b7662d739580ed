"""FAISS's OpenMP thread limit reaches the engine's worker threads, not only the main thread."""

from __future__ import annotations

import faiss

from service.metrics import Metrics
from service.runtime import EngineRunner
from service.settings import Settings

# Not the machine's default (one per core), so a worker that never set it reads something else.
LIMIT = 7


def _no_engine(settings: Settings) -> object:
    raise AssertionError("the test never loads an engine")


def test_engine_worker_threads_search_with_the_configured_faiss_threads() -> None:
    settings = Settings(faiss_threads=LIMIT, engine_threads=2)
    assert faiss.omp_get_max_threads() != LIMIT  # this (main) thread was never limited
    runner = EngineRunner(settings, _no_engine, Metrics())  # type: ignore[arg-type]
    try:
        # OpenMP limits are per thread: read it where the engine searches, on its workers.
        seen = {runner._executor.submit(faiss.omp_get_max_threads).result() for _ in range(4)}
    finally:
        runner._executor.shutdown(wait=True)
        runner._loader.shutdown(wait=True)
    assert seen == {LIMIT}
