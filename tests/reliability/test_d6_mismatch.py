"""D6: an index built one way, queried another. Each kind of mismatch is refused by name and no
engine is served: model name, weights (revision), dimension, normalisation, metric, prefixes,
tokenizer, format version, and a same-name same-dimension model swap that only the probe
sentences in the manifest can reveal."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from index.embed import ModelIdentity
from index.manifest import FORMAT_VERSION, IndexMismatch, encode_manifest
from index.pipeline import ingest
from index.store import current_version, load_snapshot, write_version, writer_lock
from retriever.engine import Engine
from retriever.weights import ScoringModel

from .common import CONFIG, DIM, encoder, make_corpus, report


def _republish(ix, change) -> None:
    """Publish a copy of the current version whose manifest says something else (a version built
    by another configuration), with every checksum valid."""
    with load_snapshot(ix) as snap, writer_lock(ix):
        manifest = {k: v for k, v in snap.manifest.items() if k not in ("files", "checksum")}
        change(manifest)
        write_version(ix, snap.content, manifest, digest="d6d6d6d6")


def _future_format(ix) -> None:
    """What a later citeqa would leave: a consistent version (manifest and CURRENT hash agree)
    in a later format, which this one cannot write and must not read."""
    name = current_version(ix)
    manifest = json.loads((ix / name / "manifest.json").read_bytes())
    data = encode_manifest({**manifest, "format_version": FORMAT_VERSION + 1})
    (ix / name / "manifest.json").write_bytes(data)
    (ix / "CURRENT").write_text(f"{name} {hashlib.sha256(data).hexdigest()}\n")


def _set_model(key, value):
    return lambda m: m["model"].__setitem__(key, value)


def _renamed(name):
    enc = encoder()
    enc.identity = dataclasses.replace(enc.identity, name=name)
    return enc


def _other_weights():
    enc = encoder()
    enc.identity = ModelIdentity(enc.identity.name, "another-revision", DIM)
    return enc


CASES = {
    # kind: (republish change or None, encoder used to open, expected reason)
    "model name": (None, lambda: _renamed("other-model"), "model 'hashing-test-encoder' != "),
    "weights / revision": (None, _other_weights, "model weights differ"),
    "dimension": (None, lambda: type(encoder())(dim=DIM * 2), f"dimension {DIM} != model dim"),
    "normalisation": (_set_model("normalised", False), encoder, "model normalised False"),
    "metric": (_set_model("metric", "l2"), encoder, "model metric 'l2'"),
    "prefixes": (_set_model("query_prefix", "query: "), encoder, "model query_prefix 'query: '"),
    "tokenizer": (lambda m: m["settings"].__setitem__("tokenizer", "whitespace-0"), encoder,
                  "tokenizer 'whitespace-0'"),
    "format version": ("future", encoder,
                       f"format version {FORMAT_VERSION + 1} != supported {FORMAT_VERSION}"),
    "same-dim model swap": (None, lambda: encoder(seed=7), "model probe sentences embed"),
}


def test_d6_mismatches_refused_by_name(tmp_path):
    corpus = make_corpus(tmp_path, "m0")
    refused = []
    for kind, (change, make_encoder, reason) in CASES.items():
        ix = tmp_path / kind.replace(" ", "_").replace("/", "")
        ingest([corpus], ix, encoder(), CONFIG, progress=False)
        Engine.open(ix, encoder(), ScoringModel.load())  # control: the right model is accepted
        if change == "future":
            _future_format(ix)
        elif change is not None:
            _republish(ix, change)
        with pytest.raises(IndexMismatch) as info:
            Engine.open(ix, make_encoder(), ScoringModel.load())
        assert reason in str(info.value), (kind, str(info.value))
        refused.append(kind)
    # A same-dimension swap passes every identity check; only the probes catch it.
    swapped = encoder(seed=7)
    assert swapped.identity == encoder().identity
    report(
        f"D6: {len(refused)}/{len(CASES)} mismatch kinds refused by name, 0 served "
        f"({', '.join(refused)}; probe cosine threshold 0.999)"
    )
    assert len(refused) == len(CASES)


def test_d6_ingest_does_not_reuse_vectors_of_another_model(tmp_path):
    corpus = make_corpus(tmp_path, "m0")
    ingest([corpus], tmp_path / "ix", encoder(), CONFIG, progress=False)
    again = ingest([corpus], tmp_path / "ix", encoder(seed=7), CONFIG, progress=False)
    assert again.published and not again.reused and "cannot be reused" in again.note
    assert "probe sentences" in again.note
    Engine.open(tmp_path / "ix", encoder(seed=7), ScoringModel.load())
