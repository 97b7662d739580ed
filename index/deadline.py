"""A time limit for loading and segmenting one file, checked cooperatively.

Ingest reads files one after another in the caller's thread, which may be any thread (a signal
alarm only reaches the main thread) and holds the index lock while it works, so one pathological
file must not hold it for ever. The loops that grow with a file's size (lines, units, HTML nodes,
chunk pieces) call ``check()``; every step between two checks works on a bounded piece (a capped
sentence, one line, one PDF stream under pypdf's limits), except parsing one HTML page into a tree,
which is bounded by the file size limit alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .records import LoadError


class FileTimedOut(LoadError):
    """A file that took longer than the per-file limit to load and segment."""


@dataclass(frozen=True)
class Deadline:
    path: str
    seconds: float
    expires: float  # time.monotonic() value

    @classmethod
    def start(cls, path: str, seconds: float) -> Deadline:
        return cls(path, seconds, time.monotonic() + seconds)

    def check(self) -> None:
        if time.monotonic() > self.expires:
            raise FileTimedOut(
                self.path,
                f"took over {self.seconds:g} s to load and split into sentences (the per-file "
                "limit); skipped",
            )


def check(deadline: Deadline | None) -> None:
    """``deadline.check()`` when there is one (library callers may pass none)."""
    if deadline is not None:
        deadline.check()
