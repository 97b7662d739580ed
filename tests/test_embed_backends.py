"""Encoder backends: the ONNX exports agree with fp32 torch (onnx-fp32 to float precision, int8
closely), are cached, and an index is only queried in the embedding space that built it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embed import DEFAULT_MODEL, ModelIdentity, ModelNotFound, load_encoder
from index.embed_onnx import (
    BACKEND,
    FP32_BACKEND,
    MODEL_FILES,
    export_dir,
    length_batches,
    prepare_export,
)
from index.manifest import (
    FORMAT_VERSION,
    PROBE_MIN_COSINE,
    PROBE_SENTENCES,
    IndexMismatch,
    check_compatible,
    model_entry,
    probe_differences,
)
from index.pipeline import ingest

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    *PROBE_SENTENCES,
    "Liverpool and Oxford signed a memorandum of understanding on research partnerships.",
    "What is the capital of France?",
    "The 1973 oil crisis began in October 1973 when OAPEC proclaimed an oil embargo, and by the "
    "end of the embargo in March 1974 the price of oil had risen from US$3 per barrel to nearly "
    "$12 globally.",
]
# int8 vectors sit close to fp32 on this model (eval/results/bench/README.md); the bound leaves
# room for other CPUs' int8 kernels, and is far above unrelated texts.
MIN_COSINE_TO_FP32 = 0.98


@pytest.fixture(scope="session")
def int8_encoder():
    return load_encoder("bundled:all-MiniLM-L6-v2", backend=BACKEND, threads=1)


@pytest.fixture(scope="session")
def onnx_fp32_encoder():
    return load_encoder("bundled:all-MiniLM-L6-v2", backend=FP32_BACKEND, threads=1)


@pytest.mark.slow
def test_onnx_fp32_computes_the_torch_vectors(torch_encoder, onnx_fp32_encoder) -> None:
    """The same numerics on another runtime: interchangeable with torch for queries and ingest
    (float32 rounding apart)."""
    torch_vectors = torch_encoder.encode(SENTENCES)
    onnx_vectors = onnx_fp32_encoder.encode(SENTENCES)
    assert onnx_vectors.dtype == np.float32
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-4)
    assert onnx_fp32_encoder.identity == torch_encoder.identity  # same space: same manifest entry


@pytest.mark.slow
def test_onnx_texts_are_not_padded(onnx_fp32_encoder) -> None:
    """The model's tokenizer.json pads to 128 tokens; the ONNX backends must switch that off
    (ten times the work on a short question), and a text's vector must not depend on it."""
    short = "Who signed?"
    alone = onnx_fp32_encoder.encode([short])
    with_long = onnx_fp32_encoder.encode([short, SENTENCES[-1]])
    np.testing.assert_allclose(alone[0], with_long[0], atol=1e-6)
    assert len(onnx_fp32_encoder._tokenizer.encode(short).ids) < 10


@pytest.mark.slow
def test_onnx_fp32_queries_a_torch_built_index(tmp_path: Path, torch_encoder,
                                               onnx_fp32_encoder, answer_model) -> None:
    from retriever.engine import Engine

    report = ingest([REPO / "seeds"], tmp_path / "index", torch_encoder, progress=False)
    assert report.published
    # Passes the backend check and the manifest's probe re-embedding (cosine >= 0.999).
    via_onnx = Engine.open(tmp_path / "index", onnx_fp32_encoder, reader=answer_model)
    via_torch = Engine.open(tmp_path / "index", torch_encoder, reader=answer_model)
    for question in ("Which two places will trial the £15m scheme?", "When was the MoU signed?",
                     "What is the population of Liverpool?"):
        a, b = via_onnx.ask(question), via_torch.ask(question)
        assert (a.answer, a.citations, a.abstained) == (b.answer, b.citations, b.abstained)
        assert abs(a.confidence - b.confidence) < 1e-3


@pytest.mark.slow
def test_int8_vectors_agree_with_fp32(torch_encoder, int8_encoder) -> None:
    fp32 = torch_encoder.encode(SENTENCES)
    int8 = int8_encoder.encode(SENTENCES)
    assert int8.shape == fp32.shape and int8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosines = (int8 * fp32).sum(axis=1)
    assert cosines.min() >= MIN_COSINE_TO_FP32, cosines
    # Still the same model: each sentence is far closer to its own fp32 vector than to others'.
    cross = int8 @ fp32.T
    assert (cross.argmax(axis=1) == np.arange(len(SENTENCES))).all()
    # A text gets the same vector alone or among others (no batch-dependent quantization).
    alone = np.vstack([int8_encoder.encode([s]) for s in SENTENCES])
    assert (alone * int8).sum(axis=1).min() > 0.9999


@pytest.mark.slow
def test_int8_identity_names_backend_and_source_weights(torch_encoder, int8_encoder) -> None:
    assert int8_encoder.identity.backend == BACKEND
    assert torch_encoder.identity.backend == "torch"
    assert int8_encoder.identity.weights_sha256 == torch_encoder.identity.weights_sha256
    assert int8_encoder.identity.name == torch_encoder.identity.name


@pytest.mark.slow
def test_export_is_cached_in_a_deterministic_place(int8_encoder) -> None:
    first = prepare_export("bundled:all-MiniLM-L6-v2")
    assert first == export_dir(first.parent, int8_encoder.identity.weights_sha256)
    stamps = {name: (first / name).stat().st_mtime_ns for name in MODEL_FILES.values()}
    assert prepare_export("bundled:all-MiniLM-L6-v2") == first  # reused, not rebuilt
    assert {name: (first / name).stat().st_mtime_ns for name in MODEL_FILES.values()} == stamps


@pytest.mark.slow
def test_int8_probe_check_refuses_an_fp32_index(seed_index: Path, int8_encoder) -> None:
    """int8 query vectors against an fp32-built index: the backend check names the mismatch,
    and the probes alone would refuse it too (int8 cosine to fp32 < PROBE_MIN_COSINE)."""
    from index.store import load_snapshot

    with load_snapshot(seed_index) as snapshot:
        manifest = snapshot.manifest
    assert "backend" not in manifest["model"]  # torch-built manifests are as before
    with pytest.raises(IndexMismatch, match="embedded by the fp32 .* runs the 'onnx-int8' one"):
        check_compatible(manifest, int8_encoder.identity, manifest["settings"]["tokenizer"],
                         encoder=int8_encoder)
    (reason,) = probe_differences(manifest, int8_encoder)
    assert f"< {PROBE_MIN_COSINE}" in reason


@pytest.mark.slow
def test_int8_index_round_trip(tmp_path: Path, int8_encoder, answer_model) -> None:
    from retriever.engine import Engine

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The bridge opened in 1932. It carries six lanes of traffic.\n")
    report = ingest([docs], tmp_path / "index", int8_encoder, progress=False)
    assert report.published
    engine = Engine.open(tmp_path / "index", int8_encoder, reader=answer_model)
    assert engine.corpus.snapshot.manifest["model"]["backend"] == BACKEND
    answer = engine.ask("When did the bridge open?")
    assert answer.answer and "1932" in answer.answer


def test_backend_check_is_pure_manifest_logic() -> None:
    torch_id = ModelIdentity("m", "abc", 8)
    int8_id = ModelIdentity("m", "abc", 8, backend=BACKEND)
    manifest = {"format_version": FORMAT_VERSION, "model": model_entry(torch_id),
                "settings": {"tokenizer": "t"}}
    check_compatible(manifest, torch_id, "t")  # an old manifest (no backend) reads as torch
    with pytest.raises(IndexMismatch, match="CITEQA_ENCODER_BACKEND=onnx-fp32, or rebuild"):
        check_compatible(manifest, int8_id, "t")
    manifest["model"] = model_entry(int8_id)
    check_compatible(manifest, int8_id, "t")
    with pytest.raises(IndexMismatch, match="CITEQA_ENCODER_BACKEND=onnx-int8"):
        check_compatible(manifest, torch_id, "t")


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ModelNotFound, match="unknown encoder backend 'fp8'"):
        load_encoder(DEFAULT_MODEL, backend="fp8")


def test_the_test_fake_is_not_a_model_name() -> None:
    """The fake encoder lives in the test suite: configuration cannot select it."""
    with pytest.raises(ModelNotFound, match="model directory not found: hashing:16"):
        load_encoder("hashing:16")


@pytest.mark.slow
def test_texts_embed_alike_on_several_threads(int8_encoder) -> None:
    """Ingest embeds several texts at once, one run per thread: the same vectors, same order."""
    two = load_encoder("bundled:all-MiniLM-L6-v2", backend=BACKEND, threads=2)
    np.testing.assert_array_equal(two.encode(SENTENCES * 3), int8_encoder.encode(SENTENCES * 3))


def test_first_export_says_what_it_is_doing_and_how_long_it_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first use waits for an export (a minute or more on a busy machine): stderr says so,
    where it is cached, and the time it took; a cached export is silent. The export steps are
    replaced by writers of the files they produce, so only the reporting is under test."""
    import index.embed_onnx as onnx_export

    def write_fp32(model_path: Path, out: Path) -> None:
        out.write_bytes(b"fp32")

    def write_optimised(fp32: Path, out: Path, hidden: int, heads: int) -> None:
        for name in MODEL_FILES.values():
            (out / name).write_bytes(b"graph")

    monkeypatch.setattr(onnx_export, "_export_fp32", write_fp32)
    monkeypatch.setattr(onnx_export, "_fuse_and_quantize", write_optimised)
    target = prepare_export("bundled:all-MiniLM-L6-v2", cache_dir=tmp_path)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("citeqa: exporting the encoder to ONNX (first use on this machine")
    assert str(tmp_path) in err[0]
    assert err[1].startswith("citeqa: encoder exported in ") and err[1].endswith(" s")
    assert prepare_export("bundled:all-MiniLM-L6-v2", cache_dir=tmp_path) == target
    assert capsys.readouterr().err == ""


def test_length_batches_keep_similar_lengths_together() -> None:
    lengths = [200, 10, 11, 12, 9, 240, 30, 10, 10, 10, 10, 10, 10]
    batches = length_batches(lengths, size=4, spread=1.25)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4
        assert max(lengths[i] for i in batch) <= 1.25 * min(lengths[i] for i in batch)
    # shortest first, and no text waits behind a longer one
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts)


@pytest.mark.parametrize("backend", [FP32_BACKEND, BACKEND])
def test_groups_embedded_together_get_the_vectors_they_get_alone(backend, int8_encoder,
                                                                 onnx_fp32_encoder) -> None:
    encoder = {FP32_BACKEND: onnx_fp32_encoder, BACKEND: int8_encoder}[backend]
    two_threads = load_encoder("bundled:all-MiniLM-L6-v2", backend=backend, threads=2)
    groups = [SENTENCES[:3], [SENTENCES[3]], [], SENTENCES[4:], SENTENCES[::-1]]
    together = two_threads.encode_groups(groups)
    for group, vectors in zip(groups, together, strict=True):
        assert vectors.shape == (len(group), encoder.identity.dim)
        assert np.array_equal(vectors, encoder.encode(group))  # bit for bit
