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


def _clustered_rows(n: int, dim: int = 32, clusters: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like sentence embeddings (uniform noise has no
    structure for an IVF to exploit)."""
    centres = np.random.default_rng(0).normal(size=(clusters, dim))  # one collection's topics
    rng = np.random.default_rng(seed + 1)
    x = centres[rng.integers(clusters, size=n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> float:
    hits = sum(len(set(index.search(q, 10)[1].tolist()) & set(_exact_top(vectors, q, 10)))
               for q in queries)
    return hits / (10 * len(queries))


@pytest.mark.parametrize("factory", ["IVF64,PQ8x4,Refine(Flat)", "HNSW8"])
def test_build_tunes_search_params_to_the_recall_target(factory: str) -> None:
    from index.vectors import TARGET_RECALL

    vectors = _clustered_rows(6000)
    index = VectorIndex.build(vectors, factory)
    assert index.tuning is not None and index.tuning.params  # FAISS's defaults were not kept
    assert index.tuning.recall_at_10 >= TARGET_RECALL
    # served as measured: fresh queries reach the target too, after a round trip with the record
    restored = VectorIndex.from_bytes(index.to_bytes(), index.tuning)
    assert _recall(restored, vectors, _clustered_rows(200, seed=9)) >= TARGET_RECALL - 0.03


def test_tuning_round_trips_through_the_manifest_entry_and_refuses_junk() -> None:
    from index.vectors import SearchTuning

    index = VectorIndex.build(_clustered_rows(3000), "IVF32,PQ8x4,Refine(Flat)")
    assert index.tuning is not None
    entry = index.tuning.to_manifest()
    assert set(entry["search_params"]) == {"nprobe", "k_factor_rf"}
    assert SearchTuning.from_manifest(entry) == index.tuning
    for junk in ({}, {"search_params": {"nprobe": "16"}}, {"search_params": {"rm -rf": 1}}):
        with pytest.raises(ValueError):
            SearchTuning.from_manifest({**entry, **junk} if junk else junk)


def test_exact_and_fallback_indexes_record_exact_search() -> None:
    from index.vectors import EXACT

    assert VectorIndex.build(_unit_rows(100), "Flat").tuning == EXACT
    assert VectorIndex.build(_unit_rows(100), "IVF64,PQ8").tuning == EXACT  # Flat fallback


def test_factory_setting_may_fix_the_search_params() -> None:
    index = VectorIndex.build(_clustered_rows(3000), "IVF32,Flat|nprobe=3")
    assert index.tuning is not None and index.tuning.params == (("nprobe", 3),)
    assert 0 < index.tuning.recall_at_10 <= 1
    with pytest.raises(ValueError, match="invalid FAISS search parameter"):
        VectorIndex.build(_clustered_rows(3000), "IVF32,Flat|nprobes=3")


def test_a_recall_ceiling_stops_the_sweep_at_its_plateau() -> None:
    # 4-bit PQ without refinement cannot reach the target: stop where more probes stop helping,
    # and record the recall honestly rather than the target.
    from index.vectors import SWEEPS, TARGET_RECALL

    index = VectorIndex.build(_clustered_rows(6000), "IVF64,PQ4x4")
    assert index.tuning is not None and index.tuning.recall_at_10 < TARGET_RECALL
    assert dict(index.tuning.params)["nprobe"] < max(SWEEPS["nprobe"])


def test_ingest_records_the_tuned_params_and_loading_serves_with_them(tmp_path, hashing_encoder):
    import faiss

    from index.pipeline import IngestConfig, ingest
    from index.store import load_snapshot

    from .conftest import SEEDS

    index_dir = tmp_path / "index"
    ingest([SEEDS], index_dir, hashing_encoder, IngestConfig(faiss_factory="HNSW16"),
           progress=False)
    with load_snapshot(index_dir) as snap:
        recorded = snap.manifest["dense_search"]
        for name, dense in (("chunks.faiss", snap.chunk_dense), ("sentences.faiss",
                                                                 snap.sentence_dense)):
            ef = recorded[name]["search_params"]["efSearch"]
            assert 0 < recorded[name]["recall_at_10"] <= 1
            assert dense.tuning is not None and dense.tuning.params == (("efSearch", ef),)
            hnsw = faiss.downcast_index(dense._index)
            assert hnsw.hnsw.efSearch == ef


def test_exact_search_over_a_memory_map_is_faiss_flat_bit_for_bit(tmp_path) -> None:
    """Exact search runs FAISS's own kernel over the mapped .npy: the same scores, ids and tie
    order as the IndexFlatIP the vectors used to be copied into."""
    import faiss

    vectors = _unit_rows(3000, 48, seed=5)
    vectors[100] = vectors[7]  # ties, broken by id as FAISS breaks them
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    exact = VectorIndex.exact_over(mapped)
    flat = faiss.IndexFlatIP(48)
    flat.add(vectors)
    for query in [vectors[7], *_unit_rows(50, 48, seed=6)]:
        scores, ids = exact.search(query, 20)
        want_scores, want_ids = flat.search(query.reshape(1, -1), 20)
        assert np.array_equal(ids, want_ids[0]) and np.array_equal(scores, want_scores[0])
    assert exact.exact and exact.description == "IndexFlat" and len(exact) == 3000


def test_approximate_build_from_a_file_equals_the_build_from_memory(tmp_path, monkeypatch) -> None:
    """Read a block at a time (training sample, adds, recall check), an IVF index is the one
    built from the array in memory."""
    from index import npy_stream
    from index.npy_stream import NpyRows

    vectors = _clustered_rows(3000)
    np.save(tmp_path / "v.npy", vectors)
    monkeypatch.setattr(npy_stream, "BLOCK_ROWS", 257)
    from_file = VectorIndex.build(NpyRows(tmp_path / "v.npy"), "IVF32,PQ8x4")
    in_memory = VectorIndex.build(vectors, "IVF32,PQ8x4")
    assert from_file.to_bytes() == in_memory.to_bytes()
    assert from_file.tuning == in_memory.tuning


def test_streamed_serialisation_is_to_bytes_and_reads_back_from_a_file(tmp_path) -> None:
    """A large index is written a block at a time and read by FAISS from the file: the same
    bytes as ``to_bytes``, the same results and tuning once read."""
    vectors = _unit_rows(2000)
    index = VectorIndex.build(vectors, "IVF16,PQ8x4,Refine(SQ8)")
    blocks: list[bytes] = []
    index.write_to(blocks.append)
    assert b"".join(blocks) == index.to_bytes()
    (tmp_path / "x.faiss").write_bytes(b"".join(blocks))
    restored = VectorIndex.read(tmp_path / "x.faiss", index.tuning)
    assert restored.tuning == index.tuning and len(restored) == 2000
    for row in (3, 1500):
        got, want = restored.search(vectors[row], 10), index.search(vectors[row], 10)
        assert np.array_equal(got[1], want[1]) and np.allclose(got[0], want[0])


def test_an_error_of_the_writer_comes_out_as_itself() -> None:
    """A full disk under FAISS's serialiser is an OSError (ENOSPC) to the caller, not the
    RuntimeError FAISS turns every callback failure into."""
    import errno

    index = VectorIndex.build(_unit_rows(2000), "IVF16,PQ8x4")

    def full(block: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        index.write_to(full)
    assert caught.value.errno == errno.ENOSPC


def test_an_exact_index_streams_what_to_bytes_gives() -> None:
    index = VectorIndex.build(_unit_rows(50), "Flat")
    blocks: list[bytes] = []
    index.write_to(blocks.append)
    assert index.exact and b"".join(blocks) == index.to_bytes()


def test_a_file_written_from_blocks_names_the_steps_of_any_written_file(tmp_path) -> None:
    from index.durable import Steps, write_file_from

    seen: list[str] = []
    path = tmp_path / "big.bin"
    write_file_from(path, lambda append: [append(b"ab"), append(b"cd")], tmp_path,
                    Steps(seen.append))
    assert path.read_bytes() == b"abcd"
    assert seen == ["write big.bin", "write-half big.bin", "fsync big.bin"]

    def crash(step: str) -> None:
        if step.startswith("write-half"):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_file_from(path, lambda append: append(b"xy"), tmp_path, Steps(crash))


def test_recall_counts_a_neighbour_that_ties_the_tenth_as_found(tmp_path) -> None:
    """Repeated text gives many rows (nearly) one vector: which of them exact search lists is
    arbitrary. An index that scans every list with 8-bit codes orders those ties its own way;
    counted by ids it would lose most neighbours of a repeated sentence, counted by score it
    loses only what its codes do. The same figure from an array and from a file."""
    from index.npy_stream import NpyRows
    from index.vectors import served_recall

    rows = _clustered_rows(3000)
    copies = rows[::7].shape  # one boilerplate sentence on every seventh row
    rows[::7] = rows[0] + 1e-5 * np.random.default_rng(5).normal(size=copies)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    np.save(tmp_path / "v.npy", rows)
    index = VectorIndex.build(rows, "IVF16,SQ8|nprobe=16")
    query = rows[7]
    exact = set(np.argsort(-(rows @ query), kind="stable")[:10].tolist())
    assert len(exact & set(index.search(query, 10)[1].tolist())) < 5  # ties ordered otherwise
    assert index.tuning is not None and index.tuning.recall_at_10 >= 0.95
    assert served_recall(index, NpyRows(tmp_path / "v.npy")) == index.tuning.recall_at_10
    one_list = VectorIndex.build(rows, "IVF64,Flat|nprobe=1")
    assert one_list.tuning is not None and one_list.tuning.recall_at_10 < 0.99
