"""BM25 built from token ids on disk, a block of units at a time, into bm25s's file layout.

bm25s builds its score matrix from Python lists of tokens, which at a million sentences costs
gigabytes. This builds the same matrix (bm25s's "lucene" scoring, the values it would compute
bit for bit, see tests/test_bm25_build.py) from the CSR token ids ingest wrote: a first pass
reads the ids a block of tokens at a time, spills each unit's (unit, token, term frequency) to a
scratch file and counts document frequencies; then each range of columns is gathered from the
spill, sorted and appended. Memory is bounded by a block and a column range, not by the
collection. ``bm25s.BM25.load`` reads the result (memory-mapped); the vocabulary is the
version's own and is not repeated here.

A unit without tokens gets one sentinel token, as ``LexicalIndex.build`` gives it, so that
the units' lengths (and hence every score) match.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import bm25s
import numpy as np

from .durable import Steps, fsync_dir, write_file
from .npy_stream import NpyAppender, NpyRows

SENTINEL = "\x00"  # LexicalIndex.build's token for a unit without tokens
TOKEN_BLOCK = 1_000_000  # tokens read at once (units are cut at the unit boundary past it)
RANGE_NNZ = 1_000_000  # (unit, token) pairs sorted and scored at once (a few arrays this long)
PAIR_BLOCK = 1_000_000  # pairs read back at once
DATA, INDICES, INDPTR = "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"
PARAMS = "params.index.json"
_PAIR = np.dtype([("unit", "<i4"), ("token", "<i4"), ("tf", "<i4")])


def _lengths(offsets: np.ndarray) -> np.ndarray:
    """Each unit's length as bm25s sees it (an empty unit holds the sentinel)."""
    lengths = np.diff(offsets).astype(np.int64)
    lengths[lengths == 0] = 1
    return lengths


def _unit_blocks(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive unit ranges of about TOKEN_BLOCK tokens each (a longer unit alone)."""
    units = len(offsets) - 1
    cuts = np.searchsorted(offsets, np.arange(TOKEN_BLOCK, int(offsets[-1]), TOKEN_BLOCK))
    bounds = sorted({0, units, *(min(int(c), units) for c in cuts)})
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _pairs(ids: NpyRows, offsets: np.ndarray, first: int, last: int, vocabulary: int,
           sentinel: int) -> np.ndarray:
    """(unit, token, term frequency) of units first..last-1, sorted by unit then token."""
    tokens = ids.read(int(offsets[first]), int(offsets[last])).astype(np.int64)
    counts = np.diff(offsets[first : last + 1])
    units = np.repeat(np.arange(first, last, dtype=np.int64), counts)
    empty = np.flatnonzero(counts == 0) + first
    if len(empty):
        units = np.concatenate([units, empty])
        tokens = np.concatenate([tokens, np.full(len(empty), sentinel, dtype=np.int64)])
    keys, tf = np.unique(units * vocabulary + tokens, return_counts=True)
    out = np.empty(len(keys), dtype=_PAIR)
    out["unit"], out["token"], out["tf"] = keys // vocabulary, keys % vocabulary, tf
    return out


def _column_ranges(df: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive column ranges of at most RANGE_NNZ pairs (one column may exceed it alone)."""
    out, start, held = [], 0, 0
    for column, count in enumerate(df.tolist()):
        if held and held + count > RANGE_NNZ:
            out.append((start, column))
            start, held = column, 0
        held += count
    out.append((start, len(df)))
    return out


def _count_pairs(ids: NpyRows, offsets: np.ndarray, vocabulary: int, sentinel: int,
                 spill: Path) -> np.ndarray:
    """Write every unit's (unit, token, tf) to ``spill``; returns each token's document
    frequency."""
    df = np.zeros(vocabulary, dtype=np.int64)
    with spill.open("xb") as fh:
        for first, last in _unit_blocks(offsets):
            pairs = _pairs(ids, offsets, first, last, vocabulary, sentinel)
            df += np.bincount(pairs["token"], minlength=vocabulary)
            fh.write(pairs.tobytes())
    return df


def _spilled(spill: Path, low: int, high: int) -> np.ndarray:
    """The spilled pairs of tokens low..high-1, in file order (units ascending)."""
    picked = []
    total = spill.stat().st_size // _PAIR.itemsize
    for start in range(0, total, PAIR_BLOCK):
        block = np.fromfile(spill, dtype=_PAIR, count=min(PAIR_BLOCK, total - start),
                            offset=start * _PAIR.itemsize)
        picked.append(block[(block["token"] >= low) & (block["token"] < high)])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=_PAIR)


def write_bm25(directory: Path, ids: NpyRows, offsets: np.ndarray, vocabulary: int,
               sentinel: int, *, k1: float, b: float, root: Path, steps: Steps) -> np.ndarray:
    """Write the BM25 index of the units in ``ids``/``offsets`` to ``directory`` (created here);
    returns the document frequency of every token id (the sentinel included)."""
    units = len(offsets) - 1
    lengths = _lengths(offsets)
    # bm25s: np.array([len(doc) for doc in corpus]).mean(), the same int64 array and reduction.
    average = lengths.mean() if units else np.float64(0)
    steps.at(f"mkdir {directory.relative_to(root).as_posix()}")
    directory.mkdir()
    spill = directory / "pairs.tmp"  # removed below; a crash leaves it to the staging clean-up
    df = _count_pairs(ids, offsets, vocabulary, sentinel, spill)
    # bm25s computes each idf in Python floats (math.log) and stores it as float32.
    idf = np.array([math.log(1 + (units - f + 0.5) / (f + 0.5)) if f else 0.0
                    for f in df.tolist()], dtype=np.float32)
    data = NpyAppender(directory / DATA, np.float32, (), root, steps)
    indices = NpyAppender(directory / INDICES, np.int32, (), root, steps)
    for low, high in _column_ranges(df):
        pairs = _spilled(spill, low, high)
        pairs = pairs[np.argsort(pairs["token"], kind="stable")]  # by column, then unit
        unit, token = pairs["unit"], pairs["token"]
        tf64 = pairs["tf"].astype(np.float32).astype(np.float64)
        # bm25s's lucene term: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in float64.
        tfc = tf64 / (k1 * ((1 - b) + b * lengths[unit].astype(np.float64) / average) + tf64)
        data.append((idf[token].astype(np.float64) * tfc).astype(np.float32))
        indices.append(unit)
    spill.unlink()
    data.finish()
    indices.finish()
    indptr = np.zeros(vocabulary + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    pointer = NpyAppender(directory / INDPTR, np.int64, (), root, steps)
    pointer.append(indptr)
    pointer.finish()
    params = {"k1": k1, "b": b, "delta": 0.5, "method": "lucene", "idf_method": "lucene",
              "dtype": "float32", "int_dtype": "int32", "num_docs": units,
              "version": bm25s.__version__, "backend": "numpy"}
    write_file(directory / PARAMS, json.dumps(params, indent=4).encode(), root, steps)
    steps.at(f"fsync-dir {directory.relative_to(root).as_posix()}")
    fsync_dir(directory)
    return df
