"""The manifest of an index version: what built it, and the checks that refuse a mismatch.

``manifest.json`` is written in one canonical form (sorted keys, two-space indent) and carries the
sha256 of its own body under ``checksum``, so any change to it, even inside a string, is detected.
It also stores the vectors the model gave a few fixed probe sentences: a different model with the
same name and dimension (the swap a schema check cannot see) is caught by re-embedding them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Encoder, ModelIdentity

# 3: records streamed at ingest, per-unit arrays (tables, token ids) memory-mapped when served,
# BM25 built from token ids, one vocabulary. An index in format 2 is rebuilt by the next ingest.
FORMAT_VERSION = 3
# Formats whose manifests carry their checksum and sources as this one does: ingest still reads
# an older version's recorded sources, so rebuilding it loses none of them.
SOURCE_FORMATS = frozenset({2, FORMAT_VERSION})
MANIFEST_NAME = "manifest.json"
PROBE_SENTENCES = (
    "The partnership agreement was signed in Oxford on 19 February 2026.",
    "How many new jobs could the innovation zone create by 2030?",
    "Heavy rain is expected across the north west later this week.",
)
PROBE_MIN_COSINE = 0.999
DEFAULT_BACKEND = "torch"  # the fp32 space; what an index without a recorded backend was built in
_PROBE_DECIMALS = 6


class IndexMismatch(Exception):
    """The index on disk cannot be used as configured; ``differences`` says exactly why."""

    def __init__(self, differences: list[str]) -> None:
        super().__init__("index refused: " + "; ".join(differences))
        self.differences = differences


class IndexCorrupt(Exception):
    """A file of an index version is missing, altered or unreadable."""


@dataclass(frozen=True)
class BuildSettings:
    """Everything besides the model that changes what ingest produces."""

    chunk_size: int
    chunk_overlap: int
    segmenter: str
    tokenizer: str
    faiss_factory: str
    bm25_k1: float
    bm25_b: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache  # reading package metadata scans site-packages; versions do not change meanwhile
def _installed_versions() -> tuple[tuple[str, str], ...]:
    out = {}
    for name in ("citeqa", "faiss-cpu", "bm25s", "sentence-transformers", "torch", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return tuple(out.items())


def library_versions() -> dict[str, str]:
    return dict(_installed_versions())


# What every project encoder does; an index built any other way cannot be queried as-is.
MODEL_CONVENTIONS = {
    "normalised": True,
    "metric": "inner_product",
    "query_prefix": "",
    "document_prefix": "",
}


def model_entry(identity: ModelIdentity) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": identity.name,
        "weights_sha256": identity.weights_sha256,
        "dim": identity.dim,
        **MODEL_CONVENTIONS,
    }
    # Recorded only when not the fp32 reference, so torch-built manifests keep their bytes and
    # indexes written before backends existed read as "torch".
    if identity.backend != DEFAULT_BACKEND:
        entry["backend"] = identity.backend
    return entry


def probe_entry(encoder: Encoder) -> dict[str, Any]:
    vectors = encoder.encode(list(PROBE_SENTENCES))
    return {
        "sentences": list(PROBE_SENTENCES),
        "vectors": [[round(float(x), _PROBE_DECIMALS) for x in row] for row in vectors],
    }


def probe_differences(manifest: dict[str, Any], encoder: Encoder) -> list[str]:
    """Re-embed the manifest's probe sentences; a cosine below PROBE_MIN_COSINE is another model."""
    probes = manifest.get("probes")
    if not isinstance(probes, dict):
        return ["the manifest has no model probe vectors"]
    sentences, stored = probes.get("sentences"), probes.get("vectors")
    try:
        expected = np.asarray(stored, dtype=np.float64)
        if not sentences or expected.shape != (len(sentences), encoder.identity.dim):
            raise ValueError
        actual = np.asarray(encoder.encode([str(s) for s in sentences]), dtype=np.float64)
    except (TypeError, ValueError):
        return ["the manifest's model probe vectors are malformed"]
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1)
    cosines = (expected * actual).sum(axis=1) / np.where(norms == 0, 1.0, norms)
    worst = float(cosines.min())
    if worst < PROBE_MIN_COSINE:
        return [
            f"model probe sentences embed differently (cosine {worst:.3f} < {PROBE_MIN_COSINE}): "
            "the configured model is not the one that built the index"
        ]
    return []


def check_compatible(
    manifest: dict[str, Any], identity: ModelIdentity, tokenizer: str,
    *, encoder: Encoder | None = None,
) -> None:
    """Raise IndexMismatch naming every difference that makes this index unusable for queries.

    With ``encoder``, also re-embed the probe sentences (catches a same-name, same-dim swap).
    """
    differences = []
    if manifest.get("format_version") != FORMAT_VERSION:
        differences.append(
            f"format version {manifest.get('format_version')!r} != supported {FORMAT_VERSION}"
        )
    model = manifest.get("model", {})
    if not isinstance(model, dict):
        model = {}
    if model.get("name") != identity.name:
        differences.append(f"model {model.get('name')!r} != configured {identity.name!r}")
    if model.get("dim") != identity.dim:
        differences.append(f"dimension {model.get('dim')} != model dimension {identity.dim}")
    if model.get("weights_sha256") != identity.weights_sha256:
        differences.append(
            "model weights differ (index built with weights sha256 "
            f"{str(model.get('weights_sha256'))[:12]}…, configured {identity.weights_sha256[:12]}…)"
        )
    built_backend = model.get("backend", DEFAULT_BACKEND)
    if built_backend != identity.backend:
        # Another backend of the same weights gives close vectors, but not the same embedding
        # space the probes vouch for (their cosine stays below PROBE_MIN_COSINE; figures in
        # eval/results/bench/README.md). Query with the backend that built it.
        differences.append(
            f"the index was embedded by the {_space(built_backend)} encoder, this process runs "
            f"the {_space(identity.backend)} one (query it with CITEQA_ENCODER_BACKEND="
            f"{'onnx-fp32' if built_backend == DEFAULT_BACKEND else built_backend}, or rebuild "
            "it with `citeqa ingest`)"
        )
    for key, wanted in MODEL_CONVENTIONS.items():
        if model.get(key) != wanted:
            differences.append(f"model {key} {model.get(key)!r} != required {wanted!r}")
    settings = manifest.get("settings", {})
    built_tokenizer = settings.get("tokenizer") if isinstance(settings, dict) else None
    if built_tokenizer != tokenizer:
        differences.append(f"tokenizer {built_tokenizer!r} != {tokenizer!r}")
    if encoder is not None and not differences:
        differences.extend(probe_differences(manifest, encoder))
    if differences:
        raise IndexMismatch(differences)


def _space(backend: str) -> str:
    """A backend's embedding space as a user knows it (torch and onnx-fp32 share fp32's)."""
    return "fp32 (onnx-fp32 or torch)" if backend == DEFAULT_BACKEND else repr(backend)


# Per FAISS file ("chunks.faiss"): the search parameters it is served with and the recall@10 they
# gave against exact search at build (index/vectors.py SearchTuning.to_manifest). Additive, so the
# format version stays: a manifest without it loads with the parameters in the FAISS file itself.
DENSE_SEARCH_KEY = "dense_search"


def dense_search_entry(manifest: dict[str, Any], name: str) -> object | None:
    """The recorded search entry of FAISS file ``name``; None when the manifest predates them."""
    section = manifest.get(DENSE_SEARCH_KEY)
    return section.get(name) if isinstance(section, dict) else None


# FAISS files not written because their index is exact (Flat): it holds nothing but the vectors
# of the .npy beside it, so loading builds it from them and each vector is stored once. Additive,
# like DENSE_SEARCH_KEY: a manifest without it lists its FAISS files and loads them.
DENSE_FROM_VECTORS_KEY = "dense_from_vectors"


def dense_from_vectors(manifest: dict[str, Any]) -> frozenset[str]:
    """The FAISS file names a version builds from its vectors instead of storing."""
    names = manifest.get(DENSE_FROM_VECTORS_KEY)
    return frozenset(n for n in names if isinstance(n, str)) if isinstance(names, list) else \
        frozenset()


# ---- the file itself -------------------------------------------------------------------------


def _canonical(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The bytes of ``manifest.json``: canonical JSON with the body's sha256 under ``checksum``."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return _canonical({**body, "checksum": hashlib.sha256(_canonical(body)).hexdigest()})


def _format_refused(found: object, where: str) -> str:
    if isinstance(found, int) and found < FORMAT_VERSION:
        return (f"{where}: manifest.json has format version {found!r} != supported "
                f"{FORMAT_VERSION} (an older citeqa built it: run `citeqa ingest` to rebuild the "
                "index, its recorded sources are re-read)")
    return f"{where}: manifest.json has format version {found!r} != supported {FORMAT_VERSION}"


def parse_manifest(
    data: bytes, where: str, formats: frozenset[int] = frozenset({FORMAT_VERSION})
) -> dict[str, Any]:
    """Parse ``manifest.json`` bytes; IndexMismatch for a format not in ``formats``,
    IndexCorrupt otherwise.

    The format version is checked first: another format may keep its integrity data elsewhere.
    """
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise IndexCorrupt(f"{where}: manifest.json is not valid JSON") from exc
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"{where}: manifest.json is not a JSON object")
    found = manifest.get("format_version")
    if found not in formats:
        raise IndexMismatch([_format_refused(found, where)])
    try:
        canonical = _canonical(manifest) == data and encode_manifest(manifest) == data
    except UnicodeEncodeError:  # a "\udc00" escape reads back as a lone surrogate: never canonical
        canonical = False
    if not canonical:
        raise IndexCorrupt(f"{where}: manifest.json fails its checksum")
    if not isinstance(manifest.get("files"), dict):
        raise IndexCorrupt(f"{where}: manifest.json has no file list")
    return manifest


# ---- recorded sources ------------------------------------------------------------------------

SOURCES_KEY = "sources"


def recorded_sources(manifest: dict[str, Any]) -> tuple[str, ...] | None:
    """The folders and files (absolute paths) the version was built from; None for a manifest
    written before sources were recorded (it loads as before; ingest then derives them)."""
    sources = manifest.get(SOURCES_KEY)
    if not isinstance(sources, list):
        return None
    return tuple(str(s) for s in sources if isinstance(s, str))
