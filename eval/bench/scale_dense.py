"""Dense search at scale: build each FAISS index type through index.vectors, sweep its search
parameters, and measure build time, memory, single-query latency and recall@10 against exact
search. Pure measurement over arrays given by the caller; no files are read here."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.vectors import VectorIndex, fit_factory, set_search_params

from .measure import Latency, rss_bytes, time_each

K = 10
RECALL_TARGET = 0.95


@dataclass(frozen=True)
class IndexKind:
    """An index type as settings offer it: a factory string ({nlist} filled in by size) and the
    search-parameter sweep that trades recall for speed."""

    name: str
    factory: str
    sweep: tuple[str, ...]


DEFAULT_KINDS = (
    IndexKind("flat", "Flat", ("",)),
    IndexKind("hnsw", "HNSW32", tuple(f"efSearch={ef}" for ef in (16, 32, 64, 128, 256))),
    # IVF-PQ, and the compressed path to 10M: PQ codes find candidates, 8-bit scalar codes
    # re-rank them. k_factor_rf=1 re-orders only the PQ top-10, so its recall is plain IVF-PQ's.
    IndexKind(
        "ivfpq+sq8",
        "IVF{nlist},PQ48,Refine(SQ8)",
        tuple(f"nprobe={p},k_factor_rf={r}" for p in (16, 32, 64, 128) for r in (1, 4, 16)),
    ),
)


@dataclass(frozen=True)
class OperatingPoint:
    params: str
    recall_at_10: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class DenseResult:
    size: int
    kind: str
    factory: str  # as requested
    built: str  # the factory actually built (fit to the size) and the FAISS class
    build_s: float | None
    index_bytes: int | None  # serialized size
    rss_delta_bytes: int | None
    timed_queries: int
    sweep: tuple[OperatingPoint, ...]
    best: OperatingPoint | None  # lowest p50 reaching RECALL_TARGET, else the highest recall
    target_met: bool
    skipped: str | None = None


def nlist_for(size: int) -> int:
    """IVF lists: the power of two nearest 4*sqrt(size) (FAISS wiki: 4 to 16 sqrt(N))."""
    return 2 ** max(0, round(math.log2(4 * math.sqrt(max(size, 1)))))


def exact_top_k(
    vectors: np.ndarray, queries: np.ndarray, k: int = K, block: int = 131_072
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k (scores, ids) for every query, ids ascending within ties; by
    blocks of the collection so memory stays bounded."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), block):
        scores = queries @ vectors[start : start + block].T
        ids = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, ids], axis=1)
        keep = np.lexsort((all_i, -all_s), axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, keep, axis=1)
        best_i = np.take_along_axis(all_i, keep, axis=1)
    return best_s, best_i


def recall_at_k(found: Sequence[Sequence[int]], exact: np.ndarray, k: int = K) -> float:
    """Mean over queries of |found[:k] & exact[:k]| / k (missing results count as misses)."""
    if len(found) != len(exact):
        raise ValueError("found and exact must hold the same number of queries")
    hits = [len(set(f[:k]) & set(e[:k].tolist())) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits)) / k if hits else 0.0


def pick_best(points: Sequence[OperatingPoint]) -> tuple[OperatingPoint | None, bool]:
    good = [p for p in points if p.recall_at_10 >= RECALL_TARGET]
    if good:
        return min(good, key=lambda p: (p.p50_ms, -p.recall_at_10)), True
    return (max(points, key=lambda p: (p.recall_at_10, -p.p50_ms)) if points else None), False


def sweep_params(
    index: VectorIndex, kind: IndexKind, queries: np.ndarray, exact: np.ndarray
) -> list[OperatingPoint]:
    points = []
    for params in kind.sweep:
        set_search_params(index, params)
        found: list[list[int]] = []

        def one(q: np.ndarray, found: list[list[int]] = found) -> None:
            found.append(index.search(q, K)[1].tolist())

        samples = time_each(one, queries)
        timed = found[-len(queries):]  # the warm-up calls came first
        lat = Latency.of(samples)
        points.append(OperatingPoint(params or "exact", round(recall_at_k(timed, exact), 4),
                                     lat.p50_ms, lat.p99_ms))
    return points


def measure_kind(
    vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, kind: IndexKind
) -> DenseResult:
    """Build one index type over ``vectors`` and sweep its search parameters one query at a time
    (FAISS threads as the caller set them); ``exact`` holds the true top-K ids."""
    size = len(vectors)
    factory = kind.factory.format(nlist=nlist_for(size))
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    index = VectorIndex.build(vectors, factory)
    build_s = time.perf_counter() - started
    rss_delta = rss_bytes() - before
    index_bytes = len(index.to_bytes())
    points = sweep_params(index, kind, queries, exact)
    best, met = pick_best(points)
    built = f"{fit_factory(factory, size)} ({index.description})"
    return DenseResult(size, kind.name, factory, built, round(build_s, 2), index_bytes,
                       rss_delta, len(queries), tuple(points), best, met)


def skipped(size: int, kind: IndexKind, reason: str) -> DenseResult:
    factory = kind.factory.format(nlist=nlist_for(size))
    return DenseResult(size, kind.name, factory, "", None, None, None, 0, (), None, False, reason)


def extrapolate_build_s(measured_s: float, measured_size: int, size: int) -> float:
    """Graph builds grow ~ n log n: the estimate used to decide whether a larger build fits."""
    return measured_s * (size / measured_size) * (math.log(size) / math.log(measured_size))
