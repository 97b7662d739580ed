"""The shipped answer model, described as fitted for a test encoder's indexes.

Indexes built with the fake encoder (tests/fake_encoder.py) are refused by the real answer model
(it was fitted on candidates from all-MiniLM-L6-v2). Service and reliability tests that use such
indexes for speed still run the real model: this writes a directory whose ``answer_model.json``
names the fake encoder, beside links to the shipped ONNX file and tokenizer (so the sha256 check
is the real one).
"""

from __future__ import annotations

import json
from pathlib import Path

from index.embed import Encoder
from index.manifest import model_entry
from retriever.answer_model import DESCRIPTION, MODEL_DIR, fitted_with
from retriever.weights import ScoringModel


def answer_model_for(encoder: Encoder, dest: Path) -> Path:
    """``dest``, holding the shipped model described for indexes built with ``encoder``."""
    shipped = json.loads((MODEL_DIR / DESCRIPTION).read_text(encoding="utf-8"))
    manifest = {"model": model_entry(encoder.identity)}
    shipped["fitted_with"] = fitted_with(manifest, ScoringModel.load().version)
    dest.mkdir(parents=True, exist_ok=True)
    for name in (shipped["file"], "tokenizer.json"):
        link = dest / name
        if not link.exists():
            link.symlink_to(MODEL_DIR / name)
    (dest / DESCRIPTION).write_text(json.dumps(shipped), encoding="utf-8")
    return dest


def with_answer_model(values: dict, workdir: Path, encoder: Encoder | None) -> dict:
    """Settings values plus ``answer_model_dir`` when the service will run with a fake
    ``encoder`` (None: the real model, whose answer model is the shipped one)."""
    if encoder is not None and "answer_model_dir" not in values:
        values = {**values, "answer_model_dir": answer_model_for(encoder, workdir / "answer-model")}
    return values
