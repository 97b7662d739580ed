"""Hybrid chunk retrieval: dense (chunks and sentences) plus BM25, fused by weighted Reciprocal
Rank Fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score(c) = Σ_r w_r / (k + rank_r(c)).

RRF needs no score normalisation across retrievers, which is why it is used here; every
retriever's rank and raw score is kept for ``--debug``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionParams:
    # Constants, not settings: the pre-ranker's rank features were fitted on this fusion.
    rrf_k: float = 60.0  # the k of Cormack et al., who found results flat around it
    dense_weight: float = 1.0  # equal weights: RRF's plain sum, no retriever favoured
    bm25_weight: float = 1.0
    sentence_weight: float = 1.0
    depth: int = 50  # how many hits each retriever contributes


@dataclass(frozen=True)
class RankedList:
    """One retriever's output: unit ids best first with their raw scores."""

    ids: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class FusedHit:
    row: int
    fused_score: float
    fused_rank: int
    ranks: dict[str, int]  # retriever name -> 1-based rank
    scores: dict[str, float]


def top_k(scores: np.ndarray, k: int) -> RankedList:
    """Best k of a full score array, ties broken by the lower id (deterministic)."""
    k = min(k, len(scores))
    if k <= 0:
        return RankedList(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    if k < len(scores):
        # argpartition picks arbitrary members of a tie at the cut: take every score above the
        # k-th best, then the lowest ids among those equal to it (the same k units however the
        # units are split, e.g. across the shards of a sharded index).
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        above = np.flatnonzero(scores > kth)
        candidates = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    ids = candidates[order]
    return RankedList(ids.astype(np.int64), scores[ids])


def best_per_group(ranked: RankedList, group_of: np.ndarray | Mapping[int, int]) -> RankedList:
    """Collapse a ranking of members (sentences) to a ranking of their groups (chunks)."""
    seen: dict[int, float] = {}
    for unit, score in zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True):
        group = int(group_of[unit])
        if group not in seen:
            seen[group] = score
    ids = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
    return RankedList(ids, np.fromiter(seen.values(), dtype=np.float32, count=len(seen)))


def fuse(lists: dict[str, RankedList], weights: dict[str, float], rrf_k: float) -> list[FusedHit]:
    """Weighted RRF over named rankings; ties broken by row id."""
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    raw: dict[int, dict[str, float]] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for rank, (row, score) in enumerate(
            zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True), start=1
        ):
            fused[row] = fused.get(row, 0.0) + weight / (rrf_k + rank)
            ranks.setdefault(row, {})[name] = rank
            raw.setdefault(row, {})[name] = float(score)
    order = sorted(fused, key=lambda row: (-fused[row], row))
    return [
        FusedHit(row=row, fused_score=fused[row], fused_rank=i, ranks=ranks[row], scores=raw[row])
        for i, row in enumerate(order, start=1)
    ]
