"""Builds the library objects from settings (the one place that turns configuration into parts)."""

from __future__ import annotations

from index.embed import Encoder, load_encoder
from retriever.engine import Engine
from retriever.weights import WEIGHTS_PATH, ScoringModel

from .settings import Settings


def make_encoder(settings: Settings) -> Encoder:
    return load_encoder(
        settings.model, batch_size=settings.embed_batch_size, backend=settings.encoder_backend,
        threads=settings.encoder_threads, cache_dir=settings.encoder_cache_dir,
    )


def open_engine(settings: Settings, encoder: Encoder | None = None) -> Engine:
    model = ScoringModel.load(settings.weights_path or WEIGHTS_PATH)
    return Engine.open(
        settings.index_dir, encoder or make_encoder(settings), model, settings.engine_params()
    )
