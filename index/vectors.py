"""The one module that owns FAISS: build, search, and (de)serialise dense indexes.

Vectors are L2-normalised, so inner product is cosine similarity. The index type is a FAISS factory
string ("Flat", "HNSW32", "IVF1024,PQ48", ...), so large collections can trade exactness for speed.
Bytes are produced and consumed in memory; the caller owns the files (and their checksums).

Trained index types (IVF, PQ) need enough vectors to train on, so ``fit_factory`` adapts the
factory string to the collection: fewer IVF lists when the collection is small, exact "Flat" when
it is too small to train a product quantizer at all (a small collection is cheap to scan anyway).
Training uses a fixed-seed sample, so large builds stay fast and every build is reproducible.

Vectors may come from a ``.npy`` file on disk (``NpyRows``): the training sample is read from it,
the index is filled a block at a time and the recall check scans it a block at a time, so a build
holds a block and the index, never the whole array. An exact ("Flat") index is no FAISS index at
all: FAISS's IndexFlat owns a copy of its vectors, so exact search runs FAISS's own kernel
(``faiss.knn``, what IndexFlatIP.search calls) over the caller's array, which may be a memory map.

An approximate index is only as good as its search parameters (nprobe, efSearch, k_factor_rf), and
FAISS's defaults (nprobe 1, efSearch 16, k_factor 1) lose many true neighbours. ``build`` therefore
measures recall@10 against exact search on a fixed-seed sample of the collection and picks the
cheapest parameters that reach TARGET_RECALL; the choice and the recall it measured travel with the
index (``SearchTuning``, recorded in the manifest) so serving searches exactly as measured. A
factory setting may fix them instead: ``"IVF256,PQ48|nprobe=16"`` (recall is still measured).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .npy_stream import NpyRows

# FAISS warns below 39 training points per centroid (k-means quality); below 1 it refuses.
POINTS_PER_CENTROID = 39
# Training sample per centroid for large collections (FAISS wiki: 30x to 256x is enough).
TRAIN_POINTS_PER_CENTROID = 40
# The served index must find this share of exact search's top 10 on the build's sample: a
# neighbour lost here is lost to fusion and every answer built on it. Above 0.95 because stored
# vectors sit closer to their neighbours than questions do, so questions see a lower recall than
# the sample (eval/results/bench/served-index.md); each sweep step costs under 2x.
TARGET_RECALL = 0.97
RECALL_K = 10
# Sample queries for the recall measurement (stored vectors, fixed seed): 5,000 neighbour checks
# bound recall's standard error near 0.003 while costing one batched search per candidate setting.
TUNING_QUERIES = 500
# A neighbour whose exact score is within this of the 10th best's is one of the 10 (ann-benchmarks'
# epsilon for its recall): scores of unit vectors, so 1e-3 is a near-identical text, not a near one.
TIE_EPSILON = 1e-3
_TUNING_SEED = 1
# Candidate values per parameter, cheapest first (ParameterSpace names).
SWEEPS: dict[str, tuple[int, ...]] = {
    "nprobe": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
    "efSearch": (16, 32, 64, 128, 256, 512, 1024),
    "k_factor_rf": (1, 2, 4, 8, 16, 32, 64),
}
# When a setting cannot reach the target (e.g. PQ without refinement), stop where recall is within
# this of the best the sweep saw: more probes would cost time for nothing.
_PLATEAU = 0.005
_IVF = re.compile(r"IVF(\d+)")
_PQ = re.compile(r"PQ(\d+)(?:x(\d+))?")


def _pq_centroids(factory: str) -> int:
    """Centroids per sub-quantizer of the factory's (O)PQ parts; 0 when there is no PQ."""
    return max((2 ** int(m.group(2) or 8) for m in _PQ.finditer(factory)), default=0)


def fit_factory(factory: str, count: int) -> str:
    """The factory string to use for ``count`` vectors: ``factory`` itself when the collection is
    large enough to train it; otherwise fewer IVF lists (count // 39), or "Flat" when even that
    or the product quantizer's training cannot be met."""
    pq = _pq_centroids(factory)
    ivf = _IVF.search(factory)
    if (pq or ivf) and count < POINTS_PER_CENTROID * max(pq, 1):
        return "Flat"
    if ivf and count < POINTS_PER_CENTROID * int(ivf.group(1)):
        return _IVF.sub(f"IVF{count // POINTS_PER_CENTROID}", factory, count=1)
    return factory


def _components(index: faiss.Index) -> list[faiss.Index]:
    """The index and the indexes it wraps (a pre-transform's or a refinement's base)."""
    index = faiss.downcast_index(index)
    inner = getattr(index, "index", None) or getattr(index, "base_index", None)
    return [index, *(_components(inner) if inner is not None else [])]


def skip_polysemous_training(index: faiss.Index) -> None:
    """The factory turns on polysemous training for PQ codes; it only serves Hamming-distance
    filtering (unused here) and takes minutes even on 20k vectors."""
    for part in _components(index):
        if hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False


class _InMemory:
    """An array with NpyRows's reading interface (the whole array is one block)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.array = np.ascontiguousarray(vectors, dtype=np.float32)
        self.shape: tuple[int, ...] = self.array.shape

    def __len__(self) -> int:
        return len(self.array)

    def blocks(self) -> list[tuple[int, np.ndarray]]:
        return [(0, self.array)] if len(self.array) else []

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.array[rows]


Rows = _InMemory | NpyRows


def _rows(vectors: np.ndarray | Rows) -> Rows:
    return vectors if isinstance(vectors, NpyRows | _InMemory) else _InMemory(vectors)


def _training_sample(vectors: Rows, factory: str) -> np.ndarray:
    """At most TRAIN_POINTS_PER_CENTROID points per centroid of the largest trained part, drawn
    with a fixed seed (k-means over every vector of a 1M collection would take many minutes)."""
    ivf = _IVF.search(factory)
    centroids = max(int(ivf.group(1)) if ivf else 0, _pq_centroids(factory), 1)
    limit = TRAIN_POINTS_PER_CENTROID * centroids
    if len(vectors) <= limit:
        return vectors.take(np.arange(len(vectors)))
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=limit, replace=False))
    return vectors.take(rows)


def _exact_neighbours(queries: np.ndarray, vectors: Rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the top-k inner products of each query over all rows, a block at a time."""
    if isinstance(vectors, _InMemory):
        return faiss.knn(queries, vectors.array, k, metric=faiss.METRIC_INNER_PRODUCT)
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for start, block in vectors.blocks():
        scores, ids = faiss.knn(queries, block, min(k, len(block)),
                                metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(scores, np.where(ids >= 0, ids + start, -1))
    heap.finalize()
    return heap.D, heap.I


def _rows_at_least(queries: np.ndarray, vectors: Rows, floors: np.ndarray) -> list[set[int]]:
    """For each query, every row whose inner product with it reaches its floor."""
    found: list[set[int]] = [set() for _ in queries]
    for start, block in vectors.blocks():
        hit_query, hit_row = np.nonzero(queries @ block.T >= floors[:, None])
        for q, r in zip(hit_query.tolist(), hit_row.tolist(), strict=True):
            found[q].add(start + r)
    return found


@dataclass(frozen=True)
class SearchTuning:
    """The search parameters an index is served with and the recall@10 they gave at build."""

    params: tuple[tuple[str, int], ...]  # ParameterSpace names, e.g. (("nprobe", 16),)
    recall_at_10: float
    queries: int  # sample queries the recall was measured on (0: exact index, nothing to measure)

    def as_string(self) -> str:
        return ",".join(f"{name}={value}" for name, value in self.params)

    def to_manifest(self) -> dict[str, Any]:
        return {"search_params": dict(self.params), "recall_at_10": self.recall_at_10,
                "recall_queries": self.queries}

    @classmethod
    def from_manifest(cls, entry: object) -> SearchTuning:
        """Parse a manifest entry; ValueError when it is not one ``to_manifest`` writes."""
        if not isinstance(entry, dict) or not isinstance(entry.get("search_params"), dict):
            raise ValueError("dense search entry is not an object with search_params")
        params = tuple(sorted(entry["search_params"].items()))
        for name, value in params:
            if name not in SWEEPS or type(value) is not int or value < 1:
                raise ValueError(f"unknown search parameter {name}={value!r}")
        recall, queries = entry.get("recall_at_10"), entry.get("recall_queries")
        if not isinstance(recall, (int, float)) or type(queries) is not int:
            raise ValueError("dense search entry lacks recall_at_10 / recall_queries")
        return cls(params, float(recall), queries)


EXACT = SearchTuning((), 1.0, 0)


def split_factory(setting: str) -> tuple[str, tuple[tuple[str, int], ...] | None]:
    """``"IVF256,PQ48|nprobe=16"`` -> ("IVF256,PQ48", (("nprobe", 16),)); no "|": (setting, None).
    ValueError names a malformed or unknown parameter."""
    factory, bar, fixed = setting.partition("|")
    if not bar:
        return setting, None
    params = []
    for item in filter(None, fixed.split(",")):
        name, _, value = item.partition("=")
        if name.strip() not in SWEEPS or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"invalid FAISS search parameter {item!r} in {setting!r} "
                             f"(known: {', '.join(SWEEPS)})")
        params.append((name.strip(), int(value)))
    return factory, tuple(sorted(params))


def _knobs(index: faiss.Index) -> list[tuple[str, tuple[int, ...]]]:
    """The tunable parameters of ``index``, the coarse search first and refinement last."""
    knobs: list[tuple[str, tuple[int, ...]]] = []
    refine = False
    for part in _components(index):
        if isinstance(part, faiss.IndexIVF):
            knobs.append(("nprobe", tuple(v for v in SWEEPS["nprobe"] if v <= part.nlist)))
        elif isinstance(part, faiss.IndexHNSW):
            knobs.append(("efSearch", SWEEPS["efSearch"]))
        elif isinstance(part, faiss.IndexRefine):
            refine = True
    return knobs + ([("k_factor_rf", SWEEPS["k_factor_rf"])] if refine else [])


class _RecallProbe:
    """Recall@10 of an index against exact search, on stored vectors as queries: each query's own
    row is left out of both lists (finding itself says nothing about its neighbours).

    A neighbour found counts when its exact score ties the 10th best's (within TIE_EPSILON), as
    ann-benchmarks counts recall: with repeated text (a licence line, a boilerplate sentence on
    every page) many rows share the 10th score, exact search's choice among them is arbitrary,
    and counting ids would punish an index for finding an equally near row."""

    def __init__(self, index: faiss.Index, vectors: Rows, queries: int) -> None:
        self.index = index
        self.k = min(RECALL_K, len(vectors) - 1)
        rng = np.random.default_rng(_TUNING_SEED)
        self.rows = np.sort(rng.choice(len(vectors), size=min(queries, len(vectors)),
                                       replace=False))
        self.queries = np.ascontiguousarray(vectors.take(self.rows))
        # One row beyond self and the k: when it falls short of the k-th score, the k are all
        # the rows that count; otherwise the rows tying the k-th are gathered in a second scan.
        scores, ids = _exact_neighbours(self.queries, vectors, self.k + 2)
        floors = np.empty(len(self.rows), dtype=np.float32)
        self.near: list[set[int]] = []
        for at, (row, row_scores, row_ids) in enumerate(zip(self.rows, scores, ids,
                                                            strict=True)):
            kept = [(float(s), int(i)) for s, i in zip(row_scores, row_ids, strict=True)
                    if i >= 0 and i != row]
            self.near.append({i for _, i in kept[: self.k]})
            floor = kept[self.k - 1][0] - TIE_EPSILON if len(kept) > self.k else np.inf
            floors[at] = floor if kept[self.k:] and kept[self.k][0] >= floor else np.inf
        tied = np.flatnonzero(np.isfinite(floors))
        if len(tied):
            gathered = _rows_at_least(self.queries[tied], vectors, floors[tied])
            for position, rows in zip(tied.tolist(), gathered, strict=True):
                self.near[position] |= rows - {int(self.rows[position])}

    def recall(self, params: tuple[tuple[str, int], ...]) -> float:
        if params:
            faiss.ParameterSpace().set_index_parameters(
                self.index, ",".join(f"{n}={v}" for n, v in params))  # type: ignore[arg-type]
        _, found = self.index.search(self.queries, self.k + 1)
        hits = 0
        for row, ids, near in zip(self.rows, found, self.near, strict=True):
            mine = [int(i) for i in ids if i >= 0 and i != row][: self.k]
            hits += sum(i in near for i in mine)
        return round(hits / (len(self.rows) * self.k), 4)


def tune(index: faiss.Index, vectors: np.ndarray | Rows,
         fixed: tuple[tuple[str, int], ...] | None = None,
         queries: int = TUNING_QUERIES) -> SearchTuning:
    """Choose (or, with ``fixed``, just measure) the search parameters of ``index`` over
    ``vectors`` and leave them set on it. Each parameter in turn, the later ones held at their
    largest value, is raised to the smallest value reaching TARGET_RECALL (or its plateau)."""
    knobs = _knobs(index)
    if not knobs or len(vectors) < 2:
        return EXACT if isinstance(faiss.downcast_index(index), faiss.IndexFlat) else \
            SearchTuning(fixed or (), 1.0, 0)
    probe = _RecallProbe(index, _rows(vectors), queries)
    if fixed is None:
        chosen = {name: grid[-1] for name, grid in knobs}
        for name, grid in knobs:
            seen: list[tuple[int, float]] = []
            for value in grid:
                seen.append((value, probe.recall(tuple(sorted({**chosen, name: value}.items())))))
                if seen[-1][1] >= TARGET_RECALL:
                    break
            best = max(r for _, r in seen)
            good = TARGET_RECALL if best >= TARGET_RECALL else best - _PLATEAU
            chosen[name] = next(v for v, r in seen if r >= good)
        fixed = tuple(sorted(chosen.items()))
    return SearchTuning(fixed, probe.recall(fixed), len(probe.rows))


def is_exact(factory: str, count: int) -> bool:
    """Whether ``factory`` (a setting, "|params" allowed) gives an exact index for ``count``
    vectors: then no FAISS file is built or stored, search scans the vectors."""
    return fit_factory(split_factory(factory)[0], count) == "Flat"


class VectorIndex:
    """A FAISS index with its search parameters, or exact search over an array of vectors."""

    def __init__(self, index: faiss.Index | None, tuning: SearchTuning | None = None,
                 vectors: np.ndarray | None = None) -> None:
        self._index = index
        # The rows an exact index scans (None for a FAISS index); a memory map is not copied.
        self._vectors = vectors
        # None: loaded without a record of its parameters (an index written before tuning).
        self.tuning = tuning

    @classmethod
    def exact_over(cls, vectors: np.ndarray) -> VectorIndex:
        """Exact inner-product search over ``vectors`` (float32, C order), which is not copied."""
        if vectors.dtype != np.float32 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
            raise ValueError("exact search needs a C-ordered float32 matrix")
        return cls(None, EXACT, vectors)

    @classmethod
    def build(cls, vectors: np.ndarray | NpyRows, factory: str = "Flat") -> VectorIndex:
        """Index ``vectors`` (an array, or a ``.npy`` file read a block at a time) with
        ``fit_factory(factory, len(vectors))`` and tune its search parameters (``tune``); an
        invalid factory string raises ValueError naming it. A fitted "Flat" is ``exact_over``
        the vectors (read into memory when they are a file)."""
        rows = _rows(vectors)
        dim = rows.shape[1]
        factory, fixed = split_factory(factory)
        fitted = fit_factory(factory, len(rows))
        if fitted == "Flat":
            return cls.exact_over(rows.array if isinstance(rows, _InMemory) else
                                  rows.take(np.arange(len(rows))))
        try:
            index = faiss.index_factory(dim, fitted, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"invalid FAISS factory string {factory!r} for dim {dim}") from exc
        if not index.is_trained:
            skip_polysemous_training(index)
            index.train(_training_sample(rows, fitted))
        for _, block in rows.blocks():
            index.add(block)
        return cls(index, tune(index, rows, fixed))

    @classmethod
    def from_bytes(cls, data: bytes, tuning: SearchTuning | None = None) -> VectorIndex:
        """Deserialise; with ``tuning`` (from the manifest), search with its parameters. A Flat
        index (as versions before format 3 stored) becomes exact search over its vectors."""
        return cls._loaded(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), tuning)

    @classmethod
    def read(cls, path: Path, tuning: SearchTuning | None = None) -> VectorIndex:
        """``from_bytes`` of the file at ``path``, read by FAISS straight into the index: the
        file's bytes are never held beside it (a large index would need twice its size)."""
        return cls._loaded(faiss.read_index(str(path)), tuning)

    @classmethod
    def _loaded(cls, index: faiss.Index, tuning: SearchTuning | None) -> VectorIndex:
        flat = faiss.downcast_index(index)
        if isinstance(flat, faiss.IndexFlat) and flat.metric_type == faiss.METRIC_INNER_PRODUCT:
            return cls.exact_over(faiss.vector_to_array(flat.codes).view(np.float32)
                                  .reshape(flat.ntotal, flat.d))
        loaded = cls(index, tuning)
        if tuning is not None:
            set_search_params(loaded, tuning.as_string())
        return loaded

    def to_bytes(self) -> bytes:
        if self._vectors is not None:  # an exact index as FAISS would store it
            flat = faiss.IndexFlatIP(self.dim)
            flat.add(self._vectors)
            return faiss.serialize_index(flat).tobytes()
        return faiss.serialize_index(self._faiss).tobytes()

    def write_to(self, write: Callable[[bytes], None]) -> None:
        """Serialise through ``write`` a block at a time, as ``to_bytes`` would give it, without
        ever holding the whole serialisation (two copies of a large index) in memory. An
        exception ``write`` raises comes out as itself, not as FAISS's RuntimeError."""
        if self._vectors is not None:
            write(self.to_bytes())
            return
        raised: list[BaseException] = []

        def forward(block: bytes) -> None:
            try:
                write(block)
            except BaseException as exc:
                raised.append(exc)
                raise

        try:
            # faiss's type stub lacks the callback writer the module has
            writer = faiss.PyCallbackIOWriter(forward)  # type: ignore[attr-defined]
            faiss.write_index(self._faiss, writer)
        except RuntimeError:
            if raised:
                raise raised[0] from None
            raise

    @property
    def _faiss(self) -> faiss.Index:
        if self._index is None:
            raise TypeError("an exact index has no FAISS index")
        return self._index

    @property
    def exact(self) -> bool:
        """Exact search over the vectors: nothing to store beside them, nothing to tune."""
        return self._vectors is not None

    @property
    def description(self) -> str:
        """What was built, e.g. "IndexIVFPQ" (the factory may have been adapted to the size)."""
        if self._vectors is not None:
            return "IndexFlat"
        return type(faiss.downcast_index(self._faiss)).__name__

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1] if self._vectors is not None else self._faiss.d)

    def __len__(self) -> int:
        return len(self._vectors) if self._vectors is not None else int(self._faiss.ntotal)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; ids are row numbers, -1 rows removed."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if self._vectors is not None:
            scores, ids = faiss.knn(query, self._vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            scores, ids = self._faiss.search(query, k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]


def set_search_params(index: VectorIndex, params: str) -> None:
    """Apply runtime parameters such as "efSearch=64", "nprobe=16" or "k_factor_rf=8" (a refined
    index re-ranks k_factor_rf x k candidates); an empty string leaves the defaults. An exact
    (Flat) index, e.g. a small collection's fallback, has nothing to tune and ignores them."""
    if params and not index.exact and not isinstance(faiss.downcast_index(index._faiss),
                                                         faiss.IndexFlat):
        # faiss's type stub says int; the call takes the "name=value,..." string too
        faiss.ParameterSpace().set_index_parameters(index._faiss, params)  # type: ignore[arg-type]


def served_recall(index: VectorIndex, vectors: np.ndarray | NpyRows,
                  queries: int = TUNING_QUERIES) -> float:
    """Recall@10 of ``index`` with the parameters it has now, measured as ``tune`` measures it
    (the same fixed-seed sample of ``vectors``, the vectors it indexes)."""
    if len(vectors) < 2 or index.exact:  # exact search is what recall is measured against
        return 1.0
    return _RecallProbe(index._faiss, _rows(vectors), queries).recall(())
