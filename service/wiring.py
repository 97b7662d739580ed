"""Builds the library objects from settings (the one place that turns configuration into parts)."""

from __future__ import annotations

from typing import Protocol

from index.embed import Encoder, load_encoder
from retriever.answer_model import MODEL_DIR, AnswerModel, Reader
from retriever.engine import Engine, EngineParams
from retriever.weights import ScoringModel

from .settings import Settings


class EncoderFactory(Protocol):
    """The model seam: builds the encoder that settings describe (``make_encoder``). The command
    line and the app take one, so a test can run them with its own fake encoder."""

    def __call__(self, settings: Settings, *, for_questions: bool = False) -> Encoder: ...


def limit_threads(settings: Settings) -> None:
    """Apply the per-process thread settings of the model (torch backend) and of FAISS; for a
    process that answers questions one at a time (serve, eval, bench)."""
    if settings.torch_threads is not None and settings.encoder_backend == "torch":
        import torch

        torch.set_num_threads(settings.torch_threads)
    limit_faiss_threads(settings.faiss_threads)


def limit_faiss_threads(threads: int | None) -> None:
    """Set FAISS's OpenMP thread limit for the calling thread (None: leave OpenMP's default).
    OpenMP keeps the limit per thread, so every thread that searches must call this itself."""
    if threads is not None:
        import faiss

        faiss.omp_set_num_threads(threads)


def make_encoder(settings: Settings, *, for_questions: bool = False) -> Encoder:
    """The configured encoder; ``for_questions``: sized for a process that embeds one question at
    a time (the ONNX backends then take torch_threads unless encoder_threads is set)."""
    threads = settings.encoder_threads
    if for_questions and threads is None:
        threads = settings.torch_threads
    return load_encoder(settings.model, backend=settings.encoder_backend, threads=threads)


def make_reader(settings: Settings) -> AnswerModel:
    return AnswerModel(settings.answer_model_dir or MODEL_DIR, threads=settings.answer_threads)


def open_engine(
    settings: Settings, encoder: Encoder | None = None, reader: Reader | None = None, *,
    params: EngineParams | None = None,
) -> Engine:
    """An engine on ``settings.index_dir``; ``params`` replaces the settings' engine parameters
    (a benchmark's own, such as a deeper fusion for retrieval-only sets)."""
    return Engine.open(
        settings.index_dir, encoder or make_encoder(settings, for_questions=True),
        ScoringModel.load(), params or settings.engine_params(), reader or make_reader(settings),
    )
