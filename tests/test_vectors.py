"""The FAISS wrapper: factory strings end to end, small-collection fallback, (de)serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from index.vectors import VectorIndex, fit_factory, set_search_params


def _unit_rows(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return np.argsort(-(vectors @ query), kind="stable")[:k].tolist()


@pytest.mark.parametrize(
    ("factory", "count", "expected"),
    [
        ("Flat", 0, "Flat"),
        ("HNSW32", 3, "HNSW32"),  # no training: any size works
        ("IVF1024,PQ48", 1_000_000, "IVF1024,PQ48"),
        ("IVF1024,PQ48", 20_000, "IVF512,PQ48"),  # 20000 // 39 lists
        ("IVF1024,PQ48", 9_000, "Flat"),  # below 39 x 256 points the PQ cannot be trained
        ("IVF64,Flat", 100, "IVF2,Flat"),
        ("IVF64,Flat", 20, "Flat"),
        ("IVF64,Flat", 0, "Flat"),
        ("IVF16,PQ8x4", 700, "IVF16,PQ8x4"),  # 4-bit codes: 16 centroids, 624 points suffice
        ("OPQ48,IVF65536_HNSW32,PQ48", 1_000_000, "OPQ48,IVF25641_HNSW32,PQ48"),
    ],
)
def test_fit_factory_adapts_to_collection_size(factory: str, count: int, expected: str) -> None:
    assert fit_factory(factory, count) == expected


@pytest.mark.parametrize("factory", ["IVF1024,PQ8", "IVF256,Flat", "HNSW32", "Flat"])
def test_small_collections_build_and_search_with_every_factory(factory: str) -> None:
    vectors = _unit_rows(300)
    index = VectorIndex.build(vectors, factory)
    assert len(index) == 300
    query = vectors[7]
    scores, ids = index.search(query, 5)
    assert ids[0] == 7  # a stored vector finds itself
    assert np.isclose(scores[0], 1.0, atol=1e-3)


def test_ivf_pq_round_trips_and_reaches_exact_results_with_enough_probes() -> None:
    vectors = _unit_rows(2000)
    index = VectorIndex.build(vectors, "IVF16,PQ8x4,Refine(Flat)")
    assert index.description == "IndexRefine"
    restored = VectorIndex.from_bytes(index.to_bytes())
    set_search_params(restored, "nprobe=16,k_factor_rf=200")
    for row in (0, 11, 999):
        query = vectors[row]
        scores, ids = restored.search(query, 10)
        exact = _exact_top(vectors, query, 10)
        # the exact top-10 scores (a near-tie at rank 10 may resolve to either vector)
        assert ids[0] == row
        assert np.allclose(scores, vectors[exact] @ query, atol=1e-5)


def test_hnsw_search_params_apply() -> None:
    vectors = _unit_rows(1000)
    index = VectorIndex.build(vectors, "HNSW32")
    set_search_params(index, "efSearch=256")
    query = _unit_rows(1, seed=5)[0]
    _, ids = index.search(query, 10)
    assert set(ids.tolist()) == set(_exact_top(vectors, query, 10))


def test_a_small_collections_flat_fallback_ignores_tuning_parameters() -> None:
    vectors = _unit_rows(100)
    index = VectorIndex.build(vectors, "IVF64,PQ8")
    assert index.description == "IndexFlat"
    set_search_params(index, "nprobe=8")
    assert index.search(vectors[3], 1)[1].tolist() == [3]


def test_trained_builds_are_reproducible() -> None:
    vectors = _unit_rows(5000)
    first = VectorIndex.build(vectors, "IVF32,PQ8x4").to_bytes()
    assert VectorIndex.build(vectors, "IVF32,PQ8x4").to_bytes() == first


def test_invalid_factory_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid FAISS factory string 'NoSuchIndex'"):
        VectorIndex.build(_unit_rows(10), "NoSuchIndex")
