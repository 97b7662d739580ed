"""The one module that owns FAISS: build, search, and (de)serialise dense indexes.

Vectors are L2-normalised, so inner product is cosine similarity. The index type is a FAISS factory
string ("Flat", "HNSW32", "IVF1024,PQ48", ...), so large collections can trade exactness for speed.
Bytes are produced and consumed in memory; the caller owns the files (and their checksums).
"""

from __future__ import annotations

import faiss
import numpy as np


class VectorIndex:
    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str = "Flat") -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(vectors)
        if len(vectors):
            index.add(vectors)
        return cls(index)

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)))

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

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
    """Apply runtime parameters such as "efSearch=64" or "nprobe=16" (empty: leave defaults)."""
    if params:
        faiss.ParameterSpace().set_index_parameters(index._index, params)
