"""``.npy`` files written and read a block of rows at a time.

Ingest appends each document's rows as it goes, before the row count is known: ``NpyAppender``
writes a header sized for any count, appends raw rows, and rewrites the header with the real shape
when it finishes (padding keeps its length, which the format allows). ``NpyRows`` reads a range of
rows into a fresh array, so building FAISS or BM25 from a large file never maps all of it.
Nothing here writes or reads pickles: dtypes are plain or structured numbers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from .durable import Steps, abandon_stream, finish_stream

_MAGIC = b"\x93NUMPY\x01\x00"  # format 1.0: a header under 64 KiB
_ALIGN = 64  # numpy aligns the data to this, so memory-mapped rows are aligned for SIMD
_LARGEST = 2**62  # the widest row count a header may have to spell out
BLOCK_ROWS = 16_384  # rows read at once: a block of 384-d float32 vectors is 24 MiB


def _header(dtype: np.dtype, shape: tuple[int, ...], size: int | None = None) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": shape})
    total = size or -(-(len(_MAGIC) + 2 + len(text) + 1) // _ALIGN) * _ALIGN
    pad = total - len(_MAGIC) - 2 - len(text) - 1
    if pad < 0:
        raise ValueError("npy header does not fit its reserved size")
    return _MAGIC + struct.pack("<H", total - len(_MAGIC) - 2) + (text + " " * pad + "\n").encode(
        "latin1")


class NpyAppender:
    """One ``.npy`` file grown by ``append`` and completed (header, fsync) by ``finish``.

    Failpoint steps: ``write <rel>`` when the file is created, ``fsync <rel>`` when it is complete,
    as ``durable.write_file`` names them.
    """

    def __init__(self, path: Path, dtype: DTypeLike, row_shape: tuple[int, ...],
                 root: Path, steps: Steps) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), row_shape
        self.rows = 0
        self._rel = path.relative_to(root).as_posix()
        self._steps = steps
        self._size = len(_header(self.dtype, (_LARGEST, *row_shape)))
        steps.at(f"write {self._rel}")
        self._fh = path.open("xb")
        self._fh.write(b" " * self._size)

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, "
                             f"expected {self.row_shape}")
        self._fh.write(rows.tobytes())
        self.rows += len(rows)

    def finish(self) -> None:
        """Write the real header and fsync; the file is then an ordinary ``.npy``."""
        self._fh.seek(0)
        self._fh.write(_header(self.dtype, (self.rows, *self.row_shape), self._size))
        finish_stream(self._fh, self._rel, self._steps)

    def abort(self) -> None:
        abandon_stream(self._fh)


class NpyRows:
    """Row ranges of a (verified) ``.npy`` file, each read into its own array."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self._offset = fh.tell()
        if fortran or not shape or dtype.hasobject:
            raise ValueError(f"{path.name}: not a C-ordered array of plain values")
        self.dtype: np.dtype = dtype
        self.shape: tuple[int, ...] = tuple(shape)
        self._row_items = int(np.prod(shape[1:], dtype=np.int64))
        if path.stat().st_size != self._offset + self.shape[0] * self._row_items * dtype.itemsize:
            raise ValueError(f"{path.name}: size does not match its header")

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (clipped to the file) as a new array."""
        start, stop = max(0, start), min(stop, len(self))
        count = max(0, stop - start) * self._row_items
        offset = self._offset + start * self._row_items * self.dtype.itemsize
        data = np.fromfile(self.path, dtype=self.dtype, count=count, offset=offset)
        return data.reshape((max(0, stop - start), *self.shape[1:]))

    def blocks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) for consecutive blocks of the whole file (BLOCK_ROWS each)."""
        step = rows or BLOCK_ROWS
        for start in range(0, len(self), step):
            yield start, self.read(start, start + step)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows at sorted positions ``rows``, reading the file block by block."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        done = 0
        for start, block in self.blocks():
            upto = int(np.searchsorted(rows, start + len(block)))
            out[done:upto] = block[rows[done:upto] - start]
            done = upto
        return out
