"""The 10M-vector measurement at a tiny size (tens of seconds): the block-reproducible collection,
the streaming exact top-k, and a real FAISS build block by block, written, read back and swept."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from eval.bench.scale_10m import StreamingTopK, build_and_measure, main, render
from eval.bench.scale_dense import exact_top_k
from eval.bench.vectors_gen import MixtureModel, collection_block, iter_collection
from tests.test_bench_scale import _real as clustered


def _real(n: int = 300, dim: int = 96, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (dim divisible by PQ48's 48)."""
    return clustered(n, dim=dim, seed=seed)


def test_any_row_range_of_the_collection_is_reproducible_on_its_own() -> None:
    model = MixtureModel.fit(_real())
    whole = collection_block(model, 5000, 0, 5000, block=1024)
    assert whole.shape == (5000, 96) and whole.dtype == np.float32
    assert np.array_equal(whole[:300], model.real)  # the real vectors first
    assert np.allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5)
    for start, stop in [(0, 1), (299, 301), (1000, 3100), (4999, 5000)]:
        assert np.array_equal(collection_block(model, 5000, start, stop, block=1024),
                              whole[start:stop])
    streamed = list(iter_collection(model, 5000, block=1024))
    assert [s for s, _ in streamed] == [0, 1024, 2048, 3072, 4096]
    assert np.array_equal(np.concatenate([rows for _, rows in streamed]), whole)
    # a longer collection starts with the same rows: blocks do not depend on n
    assert np.array_equal(collection_block(model, 9000, 0, 5000, block=1024), whole)
    assert not np.array_equal(collection_block(model, 5000, 0, 5000, seed=1, block=1024), whole)
    with pytest.raises(ValueError, match="not within"):
        collection_block(model, 5000, 4000, 6000)


def test_streaming_top_k_matches_exact_search_over_the_whole_collection() -> None:
    model = MixtureModel.fit(_real())
    queries = _real(20, seed=5)
    top = StreamingTopK(queries, k=10)
    for start, rows in iter_collection(model, 3000, block=512):
        top.add(start, rows)
    scores, ids = exact_top_k(collection_block(model, 3000, 0, 3000, block=512), queries)
    assert np.array_equal(top.ids, ids)
    assert np.allclose(top.scores, scores, atol=1e-5)


def test_build_block_by_block_then_sweep(tmp_path) -> None:
    real, queries = _real(), _real(40, seed=7)
    lines: list[str] = []
    index_file = tmp_path / "ivf.faiss"
    report = build_and_measure(
        real, queries, 10_000, sweep=("nprobe=4,k_factor_rf=4", "nprobe=64,k_factor_rf=16"),
        block=4096, threads=1, index_file=index_file, keep_index=True, log=lines.append)
    assert report.factory == "IVF256_HNSW32,PQ48,Refine(SQ8)"  # lists fit to 10k vectors
    assert report.faiss_class == "IndexRefine" and report.train_points == 10_000
    assert [s.name for s in report.stages][1:] == ["generate", "add", "exact", "write"]
    assert report.build_s > 0 and report.peak_rss_bytes >= report.rss_baseline_bytes > 0
    assert report.index_file_bytes == index_file.stat().st_size
    assert [p.params for p in report.sweep] == ["nprobe=4,k_factor_rf=4",
                                                "nprobe=64,k_factor_rf=16"]
    assert all(0.0 <= p.recall_at_10 <= 1.0 for p in report.sweep)
    assert report.sweep[-1].recall_at_10 > 0.9  # wide probe + re-ranking on clustered data
    assert report.best in report.sweep and report.timed_queries == 40
    assert any(line.startswith("added 10,000/10,000") for line in lines)

    # the written index holds the streamed collection under its row numbers
    index = faiss.read_index(str(index_file))
    assert index.ntotal == 10_000
    faiss.ParameterSpace().set_index_parameters(index, "nprobe=64,k_factor_rf=16")
    rows = collection_block(MixtureModel.fit(real), 10_000, 8_000, 8_005, block=4096)
    _, ids = index.search(rows, 1)
    assert ids[:, 0].tolist() == list(range(8_000, 8_005))

    markdown, data = render(report)
    assert "10,000 vectors" in markdown and "IVF256_HNSW32,PQ48,Refine(SQ8)" in markdown
    assert json.loads(json.dumps(data))["sweep"][0]["params"] == "nprobe=4,k_factor_rf=4"


def test_the_index_file_is_removed_unless_kept(tmp_path) -> None:
    index_file = tmp_path / "ivf.faiss"
    report = build_and_measure(_real(), _real(5, seed=3), 3000, sweep=("nprobe=8",),
                               threads=1, index_file=index_file, log=lambda _: None)
    assert report.index_file_bytes > 0 and not index_file.exists()
    assert report.factory == "Flat"  # too small to train PQ48: the fallback fit_factory picks


def test_bad_arguments_get_a_clear_error(capsys) -> None:
    assert main(["--size", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
