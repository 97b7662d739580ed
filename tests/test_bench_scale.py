"""The scale benchmark end to end at small sizes (seconds), its recall arithmetic and the generated
data (the peers section is tested in tests/test_peers.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.bench.measure import Latency
from eval.bench.scale import ScaleInputs, render, run_scale, write_results
from eval.bench.scale_dense import IndexKind, exact_top_k, nlist_for, recall_at_k
from eval.bench.textgen import BigramModel
from eval.bench.vectors_gen import perturbed_queries, synthesize

TEXTS = [
    "The partnership was signed in Liverpool on 19 February 2026.",
    "It will create 40,000 jobs across the city region by 2030.",
    "The university and the council share the cost of the new centre.",
    "Researchers from Oxford joined the programme in its second year.",
]


def _real(n: int = 200, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors standing in for a small real collection."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    x = centres[rng.integers(8, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_recall_at_k_counts_overlap_per_query() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k([[1, 2, 3, 4], [5, 6, 7, 8]], exact, k=4) == 1.0
    assert recall_at_k([[4, 3, 9, 9], [8]], exact, k=4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    with pytest.raises(ValueError):
        recall_at_k([[1]], exact, k=4)


def test_exact_top_k_matches_a_full_sort_across_blocks() -> None:
    vectors, queries = _real(500), _real(7, seed=3)
    scores, ids = exact_top_k(vectors, queries, k=10, block=64)
    full = queries @ vectors.T
    for row in range(len(queries)):
        assert ids[row].tolist() == np.argsort(-full[row], kind="stable")[:10].tolist()
        assert np.allclose(scores[row], full[row][ids[row]])


def test_synthetic_vectors_keep_the_real_ones_and_are_unit_length() -> None:
    real = _real(100)
    out = synthesize(real, 1000, seed=0)
    assert out.shape == (1000, 32) and out.dtype == np.float32
    assert np.array_equal(out[:100], real)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out, synthesize(real, 1000, seed=0))  # reproducible
    # neighbourhood structure survives: a synthetic vector is much closer to some real vector
    # than random directions in 32-d would be
    assert float((out[100:] @ real.T).max(axis=1).mean()) > 0.6


def test_bigram_text_uses_the_real_vocabulary() -> None:
    model = BigramModel.fit(TEXTS)
    generated = model.generate(50, seed=1)
    assert len(generated) == 50 and all(generated)
    vocabulary = set(model.vocab)
    assert all(set(text.split()) <= vocabulary for text in generated)
    assert generated == model.generate(50, seed=1)
    with pytest.raises(ValueError):
        BigramModel.fit(["", "  "])


def test_nlist_follows_the_square_root_rule() -> None:
    assert nlist_for(100_000) == 1024
    assert nlist_for(1_000_000) == 4096


def test_scale_end_to_end_at_small_sizes(tmp_path) -> None:
    real = _real(300)
    inputs = ScaleInputs(real, TEXTS * 20, perturbed_queries(real, 30), [t[:30] for t in TEXTS],
                         {"vectors": "test clusters", "queries": "synthetic", "texts": "test"})
    kinds = (
        IndexKind("flat", "Flat", ("",)),
        IndexKind("hnsw", "HNSW32", ("efSearch=16", "efSearch=128")),
        # 2,000 vectors cannot train 256-centroid PQ: the wrapper falls back to Flat
        IndexKind("ivfpq", "IVF{nlist},PQ8", ("nprobe=4",)),
        IndexKind("ivf", "IVF{nlist},Flat", ("nprobe=1", "nprobe=64")),
    )
    report = run_scale(inputs, [2000, 500], kinds=kinds, log=lambda line: None)
    assert report.sizes == [500, 2000]
    by = {(r.size, r.kind): r for r in report.dense}
    assert by[(2000, "flat")].best.recall_at_10 == 1.0
    assert by[(2000, "hnsw")].target_met and by[(2000, "hnsw")].build_s is not None
    assert by[(2000, "ivfpq")].built.startswith("Flat")
    assert by[(2000, "ivf")].built.startswith("IVF51,Flat")  # 2000 // 39 lists
    assert by[(2000, "ivf")].best.params == "nprobe=64"  # one probe misses neighbours
    assert all(r.index_bytes and r.index_bytes > 0 for r in report.dense)
    assert [r.size for r in report.lexical] == [500, 2000]
    assert report.lexical[1].real_units == 80 and report.lexical[1].generated_units == 1920
    assert report.projection_10m["total_gib"] < 24

    markdown, data = render(report)
    assert "## Scale" in markdown and "| 2,000 | hnsw |" in markdown
    write_results(markdown, data, "scale", tmp_path)
    assert json.loads((tmp_path / "scale.json").read_text())["sizes"] == [500, 2000]


def test_large_builds_are_skipped_when_the_extrapolation_exceeds_the_budget() -> None:
    real = _real(300)
    inputs = ScaleInputs(real, TEXTS, perturbed_queries(real, 10), TEXTS, {})
    report = run_scale(inputs, [400, 4000], kinds=(IndexKind("hnsw", "HNSW32", ("",)),),
                       bm25=False, max_build_s=0.0, log=lambda line: None)
    assert report.dense[1].skipped and "exceeds 0 s" in report.dense[1].skipped


def test_latency_percentiles() -> None:
    lat = Latency.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert lat.p50_ms == 3.0 and lat.count == 5
    with pytest.raises(ValueError):
        Latency.of([])
