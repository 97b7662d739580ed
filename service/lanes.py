"""The engine's queue, in lanes: each channel (HTTP, Slack) has its own bound, and the engine
threads take jobs from the lanes in turn.

One shared FIFO let an HTTP flood fill every slot, so Slack commands were refused ("not ready")
or waited behind the whole HTTP queue. With a lane each, a flood fills and sheds only its own
lane, and while both lanes have work each gets every other free engine thread; a lane with no
work leaves the whole engine to the other.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

Job = tuple[Callable[[], Any], "Future[Any]"]


class LaneQueue:
    def __init__(self, bounds: Mapping[str, int]) -> None:
        self.bounds = dict(bounds)
        self._jobs: dict[str, deque[Job]] = {lane: deque() for lane in bounds}
        self._held = dict.fromkeys(bounds, 0)  # queued or running, per lane
        self._order = list(bounds)
        self._turn = 0
        self._lock = threading.Lock()

    def put(self, lane: str, call: Callable[[], Any]) -> Future[Any] | None:
        """Queue ``call`` in ``lane``; None when the lane holds its bound already."""
        with self._lock:
            if self._held[lane] >= self.bounds[lane]:
                return None
            self._held[lane] += 1
            future: Future[Any] = Future()
            self._jobs[lane].append((call, future))
        future.add_done_callback(lambda _: self._release(lane))
        return future

    def run_next(self) -> None:
        """Run the next job, taking the lanes in turn (called once per ``put`` on an engine
        thread); a job cancelled while it queued is skipped without using the thread."""
        while (job := self._take()) is not None:
            call, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # handed to the awaiting request, as an executor would
                future.set_exception(exc)
            else:
                future.set_result(result)
            return

    def cancel_all(self) -> None:
        """Cancel every queued job (at shutdown); running ones finish."""
        with self._lock:
            jobs = [job for lane in self._jobs.values() for job in lane]
            for lane in self._jobs.values():
                lane.clear()
        for _, future in jobs:
            future.cancel()

    def _take(self) -> Job | None:
        with self._lock:
            for step in range(len(self._order)):
                index = (self._turn + step) % len(self._order)
                jobs = self._jobs[self._order[index]]
                if jobs:
                    self._turn = index + 1
                    return jobs.popleft()
            return None

    def _release(self, lane: str) -> None:
        with self._lock:
            self._held[lane] -= 1
