"""Ingest's progress line on stderr: one bar over the characters of the files to read (their
sizes on disk until each is read), advanced inside every file as it is segmented and as its texts
are embedded, so one large file shows a rate and an ETA instead of sitting at "0/1 file"."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

# Segmenting is quick next to embedding: this share of a file's characters is counted once it is
# segmented, the rest as its texts are embedded (by their length).
SEGMENTED_SHARE = 0.1


class IngestProgress:
    """The bar, and where the file being ingested now stands on it."""

    def __init__(self, sizes: list[int], *, enabled: bool, stream: TextIO | None = None) -> None:
        self._bar = tqdm(
            total=sum(sizes), desc="ingest", unit="char", unit_scale=True,
            file=stream or sys.stderr, disable=not enabled,
        )
        self._start = 0  # the bar's count when the current file began
        self._share = 0  # the current file's characters on the bar

    def begin(self, name: str, size: int) -> None:
        """A file of ``size`` characters (estimated by its size on disk) starts."""
        self._start, self._share = int(self._bar.n), size
        self._bar.set_postfix_str(f"reading {name}", refresh=False)

    def measured(self, name: str, chars: int) -> None:
        """The file's text is ``chars`` long: the total follows, so the ETA stays honest for
        files (HTML, PDF) whose text is shorter than their bytes."""
        if self._bar.total is not None:
            self._bar.total = max(self._start, self._bar.total + chars - self._share)
        self._share = chars
        self._bar.set_postfix_str(f"embedding {name}", refresh=False)
        self._to(SEGMENTED_SHARE)

    def embedded(self, share: float) -> None:
        """``share`` (0 to 1) of the current file's texts are embedded."""
        self._to(SEGMENTED_SHARE + (1.0 - SEGMENTED_SHARE) * share)

    def passed(self) -> None:
        """The current file needs no work (unchanged, or skipped): it leaves the total, so the
        rate and ETA count only work done."""
        remaining = self._start + self._share - int(self._bar.n)
        if self._bar.total is not None:
            self._bar.total = max(int(self._bar.n), self._bar.total - remaining)
        self._share = int(self._bar.n) - self._start

    def finished(self) -> None:
        """The current file is embedded."""
        self._to(1.0)

    def close(self) -> None:
        self._bar.set_postfix_str("", refresh=False)
        self._bar.close()

    def _to(self, share: float) -> None:
        target = self._start + round(self._share * min(max(share, 0.0), 1.0))
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)
