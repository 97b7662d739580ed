"""The manifest of an index version: what built it, and the checks that refuse a mismatch."""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .embed import ModelIdentity

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


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


def library_versions() -> dict[str, str]:
    out = {}
    for name in ("citeqa", "faiss-cpu", "bm25s", "sentence-transformers", "torch", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def model_entry(identity: ModelIdentity) -> dict[str, Any]:
    return {
        "name": identity.name,
        "weights_sha256": identity.weights_sha256,
        "dim": identity.dim,
        "normalised": True,
        "metric": "inner_product",
    }


def check_compatible(manifest: dict[str, Any], identity: ModelIdentity, tokenizer: str) -> None:
    """Raise IndexMismatch naming every difference that makes this index unusable for queries."""
    differences = []
    if manifest.get("format_version") != FORMAT_VERSION:
        differences.append(
            f"format version {manifest.get('format_version')!r} != supported {FORMAT_VERSION}"
        )
    model = manifest.get("model", {})
    if model.get("name") != identity.name:
        differences.append(f"model {model.get('name')!r} != configured {identity.name!r}")
    if model.get("dim") != identity.dim:
        differences.append(f"dimension {model.get('dim')} != model dimension {identity.dim}")
    if model.get("weights_sha256") != identity.weights_sha256:
        differences.append(
            "model weights differ (index built with weights sha256 "
            f"{str(model.get('weights_sha256'))[:12]}…, configured {identity.weights_sha256[:12]}…)"
        )
    built_tokenizer = manifest.get("settings", {}).get("tokenizer")
    if built_tokenizer != tokenizer:
        differences.append(f"tokenizer {built_tokenizer!r} != {tokenizer!r}")
    if differences:
        raise IndexMismatch(differences)
