"""Versioned index: publish, incremental add/change/delete, manifest refusal, corruption."""

from __future__ import annotations

import hashlib
import json
import mmap
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.manifest import IndexCorrupt, IndexMismatch, encode_manifest, sha256_file
from index.pipeline import IngestConfig, ingest
from index.store import (
    CURRENT,
    IndexBusy,
    current_version,
    list_versions,
    load_snapshot,
    writer_lock,
)
from retriever.engine import Engine
from retriever.weights import ScoringModel
from tests.fake_encoder import HashingEncoder

from .conftest import SEEDS
from .fake_reader import WordOverlapReader

QUESTIONS = [
    "When was the MoU signed?",
    "How many jobs could be created?",
    "Who is the Mayor of the Liverpool City Region?",
    "What does the partnership with Innovate UK focus on?",
]


def _copy_seeds(dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in SEEDS.iterdir():
        shutil.copy(f, dst / f.name)
    return dst


def _answers(index_dir: Path, encoder) -> list[str]:
    engine = Engine.open(
        index_dir, encoder, ScoringModel.load(), reader=WordOverlapReader(index_dir)
    )
    out = []
    for q in QUESTIONS:
        a = engine.ask(q).model_dump(exclude={"timings_ms", "index_version"})
        out.append(json.dumps(a, sort_keys=True))
    return out


def test_publish_layout_and_manifest(tmp_path, hashing_encoder):
    report = ingest([SEEDS], tmp_path / "ix", hashing_encoder, progress=False)
    assert report.published and report.documents == 5 and not report.skipped
    version = current_version(tmp_path / "ix")
    assert version == report.version
    manifest = json.loads((tmp_path / "ix" / version / "manifest.json").read_text())
    assert manifest["model"]["name"] == hashing_encoder.identity.name
    assert manifest["model"]["dim"] == 64 and manifest["model"]["normalised"] is True
    assert manifest["counts"] == {
        "documents": 5, "chunks": report.chunks, "sentences": report.sentences,
    }
    assert set(manifest["documents"]) == {p.stem for p in SEEDS.iterdir()}
    assert "faiss-cpu" in manifest["libraries"] and manifest["settings"]["chunk_size"] == 1000
    assert all(len(h) == 64 for h in manifest["files"].values())
    # No pickle anywhere: every file is JSON/JSONL, .npy (loaded with allow_pickle=False) or FAISS.
    for rel in manifest["files"]:
        assert rel.endswith((".json", ".jsonl", ".npy", ".faiss")), rel


def test_flat_vectors_are_stored_once_and_searched_as_before(tmp_path, hashing_encoder):
    """A Flat FAISS file would repeat the .npy: the version keeps the .npy alone and loading
    builds the exact index from it (issue 15)."""
    report = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    manifest = json.loads((tmp_path / report.version / "manifest.json").read_text())
    assert not [rel for rel in manifest["files"] if rel.endswith(".faiss")]
    assert manifest["dense_from_vectors"] == ["chunks.faiss", "sentences.faiss"]
    assert not list((tmp_path / report.version).glob("*.faiss"))
    with load_snapshot(tmp_path) as snap:
        vectors = snap.content.sentence_vectors
        assert snap.sentence_dense.exact and len(snap.sentence_dense) == len(vectors)
        scores, ids = snap.sentence_dense.search(vectors[7], 3)
        assert ids[0] == 7 and np.allclose(scores, np.sort(vectors @ vectors[7])[::-1][:3])


def test_an_approximate_index_keeps_its_faiss_file(tmp_path, hashing_encoder):
    config = IngestConfig(faiss_factory="HNSW16")
    report = ingest([SEEDS], tmp_path, hashing_encoder, config, progress=False)
    manifest = json.loads((tmp_path / report.version / "manifest.json").read_text())
    assert {"chunks.faiss", "sentences.faiss"} <= set(manifest["files"])
    assert "dense_from_vectors" not in manifest
    with load_snapshot(tmp_path) as snap:
        assert not snap.chunk_dense.exact


def test_a_version_that_stores_its_flat_faiss_files_still_loads(tmp_path, hashing_encoder):
    """Versions written before the vectors were stored once (a Flat .faiss beside the .npy)."""
    report = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    vdir = tmp_path / report.version
    with load_snapshot(tmp_path) as snap:
        old = {"chunks.faiss": snap.chunk_dense, "sentences.faiss": snap.sentence_dense}
    manifest = json.loads((vdir / "manifest.json").read_text())
    del manifest["dense_from_vectors"], manifest["checksum"]
    for name, index in old.items():
        (vdir / name).write_bytes(index.to_bytes())
        manifest["files"][name] = sha256_file(vdir / name)
    data = encode_manifest(manifest)
    (vdir / "manifest.json").write_bytes(data)
    (tmp_path / CURRENT).write_text(f"{report.version} {hashlib.sha256(data).hexdigest()}\n")
    with load_snapshot(tmp_path) as snap:
        assert len(snap.chunk_dense) == len(snap.content.chunks) and snap.chunk_dense.exact


def test_offsets_hold_for_every_record(tmp_path, hashing_encoder):
    ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    content = load_snapshot(tmp_path).content
    texts = {d.doc_id: d.text for d in content.documents}
    for unit in [*content.sentences, *content.chunks]:
        assert texts[unit.doc_id][unit.start : unit.end] == unit.text


def test_unchanged_reingest_publishes_nothing(tmp_path, hashing_encoder):
    first = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    again = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    assert not again.published and again.version == first.version
    assert again.reused == sorted(again.reused) and len(again.reused) == 5 and not again.embedded
    assert "up to date" in again.note
    assert list_versions(tmp_path) == [first.version]


def test_incremental_equals_fresh_build(tmp_path, hashing_encoder):
    corpus = _copy_seeds(tmp_path / "docs")
    inc = tmp_path / "inc"
    ingest([corpus], inc, hashing_encoder, progress=False)
    # change one file, delete one, add one
    changed = corpus / "003_6f9793588dbe1bb2.txt"
    changed.write_text(changed.read_text() + "\nThe launchpad opened in March 2027 in Sefton.\n")
    (corpus / "004_ea8255db490a2ff0.txt").unlink()
    (corpus / "new_doc.md").write_text("# New\n\nThe new hub employs 120 people in Wirral.\n")
    report = ingest([corpus], inc, hashing_encoder, progress=False)
    assert sorted(report.embedded) == ["003_6f9793588dbe1bb2", "new_doc"]
    assert report.removed == ["004_ea8255db490a2ff0"]
    assert len(report.reused) == 3
    fresh = tmp_path / "fresh"
    ingest([corpus], fresh, hashing_encoder, progress=False)
    a, b = load_snapshot(inc), load_snapshot(fresh)
    assert a.manifest["files"] == b.manifest["files"]  # byte-identical content
    assert _answers(inc, hashing_encoder) == _answers(fresh, hashing_encoder)
    assert "004_ea8255db490a2ff0" not in {d.doc_id for d in a.content.documents}


def test_refuses_other_model_and_dimension(tmp_path, hashing_encoder):
    ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    with pytest.raises(IndexMismatch, match="dimension 64 != model dimension 32"):
        Engine.open(tmp_path, HashingEncoder(dim=32), ScoringModel.load())
    with pytest.raises(IndexMismatch, match="model 'hashing-test-encoder' != configured 'other'"):
        Engine.open(tmp_path, HashingEncoder(dim=64, name="other"), ScoringModel.load())


def test_refuses_other_format(tmp_path, hashing_encoder):
    report = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    manifest_path = tmp_path / report.version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch, match="format version 99"):
        Engine.open(tmp_path, hashing_encoder, ScoringModel.load())


@pytest.mark.parametrize("victim", ["chunk_vectors.npy", "sentences.jsonl", "sentence_vectors.npy"])
def test_detects_corruption_by_name(tmp_path, hashing_encoder, victim):
    report = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    path = tmp_path / report.version / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match=victim):
        load_snapshot(tmp_path)


def test_truncated_and_missing_files(tmp_path, hashing_encoder):
    report = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    vdir = tmp_path / report.version
    (vdir / "chunks.jsonl").write_bytes((vdir / "chunks.jsonl").read_bytes()[:100])
    with pytest.raises(IndexCorrupt, match="chunks.jsonl"):
        load_snapshot(tmp_path)
    (vdir / "chunks.jsonl").unlink()
    with pytest.raises(IndexCorrupt, match="chunks.jsonl is missing"):
        load_snapshot(tmp_path)
    (tmp_path / CURRENT).write_text("../../etc\n")
    with pytest.raises(IndexCorrupt, match="does not name a version"):
        load_snapshot(tmp_path)


def test_corrupt_current_version_is_rebuilt_not_reused(tmp_path, hashing_encoder):
    first = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    (tmp_path / first.version / "sentence_vectors.npy").write_bytes(b"garbage")
    again = ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    assert again.published and len(again.embedded) == 5 and "cannot be reused" in again.note
    load_snapshot(tmp_path)  # the new version verifies


def test_single_writer_lock(tmp_path, hashing_encoder):
    with writer_lock(tmp_path), pytest.raises(IndexBusy):
        ingest([SEEDS], tmp_path, hashing_encoder, progress=False)


def test_nothing_usable_publishes_nothing(tmp_path, hashing_encoder):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("   \n")
    (bad / "binary.txt").write_bytes(b"\x89PNG\x00\x00 not text")
    report = ingest([bad], tmp_path / "ix", hashing_encoder, progress=False)
    assert report.documents == 0 and not report.published and len(report.skipped) == 2
    assert current_version(tmp_path / "ix") is None


def test_broken_file_is_skipped_and_rest_indexed(tmp_path, hashing_encoder):
    corpus = _copy_seeds(tmp_path / "docs")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    report = ingest([corpus], tmp_path / "ix", hashing_encoder, progress=False)
    assert report.documents == 5 and report.published
    assert [Path(e.path).name for e in report.skipped] == ["broken.pdf"]


def test_garbage_collection_keeps_recent_versions(tmp_path, hashing_encoder):
    corpus = _copy_seeds(tmp_path / "docs")
    config = IngestConfig(keep_versions=2)
    for i in range(4):
        (corpus / "extra.txt").write_text(f"Revision {i} of the extra note about Wirral.\n")
        ingest([corpus], tmp_path / "ix", hashing_encoder, config, progress=False)
    versions = list_versions(tmp_path / "ix")
    assert len(versions) == 2 and current_version(tmp_path / "ix") == versions[-1]


def test_faiss_matches_brute_force(tmp_path, hashing_encoder):
    ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    snap = load_snapshot(tmp_path)
    vectors = snap.content.sentence_vectors
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=vectors.shape[1]).astype(np.float32)
        q /= np.linalg.norm(q)
        scores, ids = snap.sentence_dense.search(q, 10)
        exact = vectors @ q
        expected = np.lexsort((np.arange(len(exact)), -exact))[:10]
        np.testing.assert_allclose(scores, exact[ids], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.sort(exact[expected]), np.sort(scores), rtol=1e-5, atol=1e-5)


def _rewrite_format(index_dir: Path, version: str, format_version: int) -> None:
    """Make ``version`` read as written in another format (consistent checksums)."""
    path = index_dir / version / "manifest.json"
    manifest = json.loads(path.read_text())
    data = encode_manifest({**manifest, "format_version": format_version})
    path.write_bytes(data)
    (index_dir / CURRENT).write_text(f"{version} {hashlib.sha256(data).hexdigest()}\n")


def test_an_older_format_is_refused_with_what_to_do_and_rebuilt_by_the_next_ingest(
        tmp_path, hashing_encoder):
    """Format 3 stores per-unit arrays: a format 2 index cannot be served, and the next ingest
    rebuilds it from the sources it recorded (not from the defaults)."""
    docs = _copy_seeds(tmp_path / "docs")
    ix = tmp_path / "ix"
    first = ingest([docs], ix, hashing_encoder, progress=False)
    _rewrite_format(ix, first.version, 2)
    with pytest.raises(IndexMismatch, match="older citeqa built it: run `citeqa ingest`"):
        load_snapshot(ix)
    again = ingest([], ix, hashing_encoder, mode="add", default_paths=[tmp_path / "elsewhere"],
                   progress=False)
    assert again.published and len(again.embedded) == 5 and "cannot be reused" in again.note
    with load_snapshot(ix) as snap:
        assert snap.manifest["format_version"] == 3 and len(snap.content.documents) == 5


def _mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory map (not a copy in memory)."""
    base = array
    while base is not None and not isinstance(base, np.memmap | mmap.mmap):
        base = getattr(base, "base", None)
    return base is not None


def test_served_records_are_views_of_memory_mapped_arrays(tmp_path, hashing_encoder):
    """Serving maps the vectors and tables (no copy, nothing rebuilt per sentence) and the exact
    index searches the mapped vectors themselves."""
    ingest([SEEDS], tmp_path, hashing_encoder, progress=False)
    with load_snapshot(tmp_path) as snap:
        for array in (snap.content.sentence_vectors, snap.content.chunk_vectors,
                      snap.arrays.sentences, snap.arrays.chunks,
                      snap.arrays.sentence_token_ids):
            assert _mapped(array)
        assert snap.sentence_dense._vectors is snap.content.sentence_vectors
        rows = [json.loads(line)
                for line in (tmp_path / snap.version / "sentences.jsonl").open()]
        assert [s.__dict__ for s in snap.content.sentences] == rows
        chunks = [json.loads(line) for line in (tmp_path / snap.version / "chunks.jsonl").open()]
        assert [c.__dict__ for c in snap.content.chunks] == chunks
