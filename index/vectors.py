"""The one module that owns FAISS: build, search, and (de)serialise dense indexes.

Vectors are L2-normalised, so inner product is cosine similarity. The index type is a FAISS factory
string ("Flat", "HNSW32", "IVF1024,PQ48", ...), so large collections can trade exactness for speed.
Bytes are produced and consumed in memory; the caller owns the files (and their checksums).

Trained index types (IVF, PQ) need enough vectors to train on, so ``fit_factory`` adapts the
factory string to the collection: fewer IVF lists when the collection is small, exact "Flat" when
it is too small to train a product quantizer at all (a small collection is cheap to scan anyway).
Training uses a fixed-seed sample, so large builds stay fast and every build is reproducible.
"""

from __future__ import annotations

import re

import faiss
import numpy as np

# FAISS warns below 39 training points per centroid (k-means quality); below 1 it refuses.
POINTS_PER_CENTROID = 39
# Training sample per centroid for large collections (FAISS wiki: 30x to 256x is enough).
TRAIN_POINTS_PER_CENTROID = 40
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


def _training_sample(vectors: np.ndarray, factory: str) -> np.ndarray:
    """At most TRAIN_POINTS_PER_CENTROID points per centroid of the largest trained part, drawn
    with a fixed seed (k-means over every vector of a 1M collection would take many minutes)."""
    ivf = _IVF.search(factory)
    centroids = max(int(ivf.group(1)) if ivf else 0, _pq_centroids(factory), 1)
    limit = TRAIN_POINTS_PER_CENTROID * centroids
    if len(vectors) <= limit:
        return vectors
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=limit, replace=False))
    return vectors[rows]


class VectorIndex:
    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str = "Flat") -> VectorIndex:
        """Index ``vectors`` with ``fit_factory(factory, len(vectors))``; an invalid factory string
        raises ValueError naming it."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        fitted = fit_factory(factory, len(vectors))
        try:
            index = faiss.index_factory(dim, fitted, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"invalid FAISS factory string {factory!r} for dim {dim}") from exc
        if not index.is_trained:
            skip_polysemous_training(index)
            index.train(_training_sample(vectors, fitted))
        if len(vectors):
            index.add(vectors)
        return cls(index)

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)))

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

    @property
    def description(self) -> str:
        """What was built, e.g. "IndexIVFPQ" (the factory may have been adapted to the size)."""
        return type(faiss.downcast_index(self._index)).__name__

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; ids are row numbers, -1 rows removed."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self._index.search(query, k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]


def set_search_params(index: VectorIndex, params: str) -> None:
    """Apply runtime parameters such as "efSearch=64", "nprobe=16" or "k_factor_rf=8" (a refined
    index re-ranks k_factor_rf x k candidates); an empty string leaves the defaults. An exact
    (Flat) index, e.g. a small collection's fallback, has nothing to tune and ignores them."""
    if params and not isinstance(faiss.downcast_index(index._index), faiss.IndexFlat):
        # faiss's type stub says int; the call takes the "name=value,..." string too
        faiss.ParameterSpace().set_index_parameters(index._index, params)  # type: ignore[arg-type]
