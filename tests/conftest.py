"""Shared fixtures: the real model and a real seed index are built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from index.embed import (  # noqa: E402
    DEFAULT_MODEL,
    Encoder,
    SentenceTransformerEncoder,
    load_encoder,
)
from index.pipeline import ingest  # noqa: E402
from tests.fake_encoder import HashingEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"


@pytest.fixture(scope="session")
def real_encoder() -> Encoder:
    """The model as the product runs it by default (the onnx-fp32 backend)."""
    return load_encoder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def torch_encoder() -> SentenceTransformerEncoder:
    """The fp32 reference: the same weights through sentence-transformers and torch."""
    return SentenceTransformerEncoder()


@pytest.fixture()
def hashing_encoder() -> HashingEncoder:
    """The fake at the model seam (tests/fake_encoder.py)."""
    return HashingEncoder(dim=64)


def index_of(tmp_path: Path, encoder: Encoder, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> text) to a folder and ingest it; returns the index directory."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in files.items():
        (docs / name).write_text(text)
    ingest([docs], tmp_path / "ix", encoder, progress=False)
    return tmp_path / "ix"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Path:
    """A real index of seeds/ built with the real model (read-only for tests)."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    report = ingest([SEEDS], index_dir, real_encoder, progress=False)
    assert report.published and not report.skipped
    return index_dir


@pytest.fixture(scope="session")
def answer_model():
    """The shipped answer model (ONNX), loaded once."""
    from retriever.answer_model import AnswerModel

    return AnswerModel()


@pytest.fixture(scope="session")
def seed_engine(seed_index: Path, real_encoder, answer_model):
    from retriever.engine import Engine

    return Engine.open(seed_index, real_encoder, reader=answer_model)
