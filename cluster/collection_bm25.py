"""BM25 of one shard's units scored with the whole collection's statistics.

A BM25 score depends on the collection: each term's document frequency (its IDF), the number of
units and their average length. A shard's own bm25s matrix bakes in the shard's, so its scores
differ from the one-process index's. Rebuilding every shard's matrix whenever any document
changes would defeat incremental ingest, so the shard keeps its term frequencies (derived from
the token ids ingest wrote) and is scored per question with the collection's numbers, computed
exactly as ``index.bm25_build`` computes each stored value and as bm25s sums them: the same
float64 term, rounded to float32, added in question-token order. The scores are therefore the
one-process index's, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def bm25_idf(units: int, df: int) -> np.float32:
    """bm25s's "lucene" IDF (computed in Python floats, stored as float32)."""
    return np.float32(math.log(1 + (units - df + 0.5) / (df + 0.5)) if df else 0.0)


def unit_lengths(offsets: np.ndarray) -> np.ndarray:
    """Each unit's length as bm25s sees it (an empty unit holds one sentinel token)."""
    lengths = np.diff(offsets).astype(np.int64)
    lengths[lengths == 0] = 1
    return lengths


@dataclass(frozen=True)
class TermPostings:
    """Term frequencies by token id (CSC: ``units[indptr[t]:indptr[t+1]]`` ascending, ``tf``
    beside them) and every unit's length."""

    indptr: np.ndarray  # (vocabulary + 1,) int64
    units: np.ndarray  # int32 (bm25s's own index dtype)
    tf: np.ndarray  # int32
    lengths: np.ndarray  # int64, per unit

    @classmethod
    def from_token_ids(cls, ids: np.ndarray, offsets: np.ndarray,
                       vocabulary: int) -> TermPostings:
        counts = np.diff(offsets)
        unit = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        keys, tf = np.unique(unit * vocabulary + np.asarray(ids, dtype=np.int64),
                             return_counts=True)
        units, tokens = keys // vocabulary, keys % vocabulary
        order = np.argsort(tokens, kind="stable")  # by token, units ascending within one
        indptr = np.zeros(vocabulary + 1, dtype=np.int64)
        np.cumsum(np.bincount(tokens, minlength=vocabulary), out=indptr[1:])
        return cls(indptr, units[order].astype(np.int32), tf[order].astype(np.int32),
                   unit_lengths(offsets))

    def df(self) -> np.ndarray:
        """Units holding each token id."""
        return np.diff(self.indptr)

    def scores(self, token_ids: Sequence[int], idf: Sequence[np.float32], average: float,
               k1: float, b: float) -> np.ndarray:
        """Every unit's BM25 score: ``token_ids`` in question order (repeats count, as in
        bm25s), ``idf`` and ``average`` (unit length) the collection's."""
        out = np.zeros(len(self.lengths), dtype=np.float32)
        for token, weight in zip(token_ids, idf, strict=True):
            lo, hi = int(self.indptr[token]), int(self.indptr[token + 1])
            unit = self.units[lo:hi]
            tf64 = self.tf[lo:hi].astype(np.float32).astype(np.float64)
            # index.bm25_build's term, in the same order of operations.
            tfc = tf64 / (k1 * ((1 - b) + b * self.lengths[unit].astype(np.float64) / average)
                          + tf64)
            np.add.at(out, unit, (np.float64(weight) * tfc).astype(np.float32))
        return out
