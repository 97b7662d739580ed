"""Work done ahead in worker processes and handed back in the order it is asked for.

Ingest reads, parses and segments each file before the encoder embeds it. On one thread the
encoder waits while a page of HTML is parsed, and parsing a collection of many small pages can
cost as much as embedding it. ``Ahead`` runs a pure, module-level function over the items the
consumer will ask for next, in a small process pool and a bounded window ahead (by item count and
by input bytes, so memory stays bounded), and returns exactly what the function returns in the
consumer's own process: results do not depend on how many workers there are.

A worker that dies (a parser library crashing on hostile input) does not end the run: the item
whose result was asked is retried alone in a fresh pool, and if it kills that one too it is the
culprit and ``WorkerCrashed`` is raised for it alone; every other item is resubmitted.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
A = TypeVar("A")
R = TypeVar("R")

# A fresh interpreter serves the workers: forking a process whose encoder threads are running
# could copy a lock held by one of them.
_CONTEXT = "forkserver"


class WorkerCrashed(Exception):
    """The worker process died while working on this item, twice."""


@dataclass(frozen=True)
class Planned(Generic[K, A]):
    """One item the consumer is expected to ask for, in the order it will ask."""

    key: K
    arg: A
    size: int  # input bytes, which the window bounds


class Ahead(Generic[K, A, R]):
    """``fn(arg)`` for each planned item, computed up to ``window`` items (and ``window_bytes``
    of input) ahead of the consumer in ``workers`` processes; ``workers == 0`` computes each in
    this process when asked. Items the consumer passes over are cancelled."""

    def __init__(self, fn: Callable[[A], R], planned: Sequence[Planned[K, A]], workers: int, *,
                 window: int, window_bytes: int) -> None:
        if workers < 0 or window < 1 or window_bytes < 1:
            raise ValueError("need workers >= 0, window >= 1 and window_bytes >= 1")
        self._fn, self._planned, self._workers = fn, list(planned), workers
        self._window, self._window_bytes = window, window_bytes
        self._position = {p.key: i for i, p in enumerate(self._planned)}
        if len(self._position) != len(self._planned):
            raise ValueError("planned keys must be distinct")
        self._submitted = 0  # planned items before this position have been submitted
        self._pending: dict[int, Future[R]] = {}
        self._pending_bytes = 0
        self._pool: ProcessPoolExecutor | None = self._new_pool() if workers else None

    def _new_pool(self, workers: int | None = None) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers or self._workers,
                                   mp_context=multiprocessing.get_context(_CONTEXT))

    def result(self, key: K) -> R:
        """The function's result for ``key`` (its exception re-raised here)."""
        position = self._position.get(key)
        if position is None:
            raise KeyError(f"{key!r} was not planned")
        if self._pool is None:
            return self._fn(self._planned[position].arg)
        for passed in [p for p in self._pending if p < position]:
            self._take(passed).cancel()  # a no-op once it runs; it must not hold the window
        self._fill(through=position)
        if position not in self._pending:  # the pool broke before it could be submitted
            self._submitted = max(self._submitted, position + 1)
            return self._after_crash(position)
        future = self._take(position)
        self._fill(through=position)
        try:
            return future.result()
        except BrokenProcessPool:
            return self._after_crash(position)

    def _fill(self, through: int) -> None:
        while self._submitted < len(self._planned):
            item = self._planned[self._submitted]
            full = (len(self._pending) >= self._window
                    or self._pending_bytes + item.size > self._window_bytes)
            if full and self._submitted > through and self._pending:
                return
            assert self._pool is not None
            try:
                future = self._pool.submit(self._fn, item.arg)
            except BrokenProcessPool:
                # A worker died on an item submitted earlier: the next result that needs the
                # pool finds out which one, and a fresh pool takes the rest.
                return
            self._pending[self._submitted] = future
            self._pending_bytes += item.size
            self._submitted += 1

    def _take(self, position: int) -> Future[R]:
        future = self._pending.pop(position)
        self._pending_bytes -= self._planned[position].size
        return future

    def _after_crash(self, position: int) -> R:
        """Retry the asked item alone, then resubmit the rest to a fresh pool."""
        assert self._pool is not None
        self._pool.shutdown(wait=True, cancel_futures=True)
        alone = self._new_pool(1)
        outcome: R | BaseException
        try:
            outcome = alone.submit(self._fn, self._planned[position].arg).result()
        except BrokenProcessPool:
            outcome = WorkerCrashed(f"a worker process died working on {position}")
        except Exception as exc:  # noqa: BLE001 - the function's own error, re-raised below
            outcome = exc
        finally:
            alone.shutdown(wait=True)
        self._pool = self._new_pool()
        for p in list(self._pending):
            self._pending[p] = self._pool.submit(self._fn, self._planned[p].arg)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        self._pending_bytes = 0

    def __enter__(self) -> Ahead[K, A, R]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
