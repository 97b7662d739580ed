"""The shipped answer model, described as fitted for a test encoder's indexes.

Indexes built with the hashing test encoder are refused by the real answer model (it was fitted on
candidates from all-MiniLM-L6-v2). Service and reliability tests that use such indexes for speed
still run the real model: this writes a directory whose ``answer_model.json`` names the test
encoder, beside links to the shipped ONNX file and tokenizer (so the sha256 check is the real one).
"""

from __future__ import annotations

import json
from pathlib import Path

from index.embed import load_encoder
from index.manifest import model_entry
from retriever.answer_model import DESCRIPTION, MODEL_DIR, fitted_with
from retriever.weights import ScoringModel


def answer_model_for(encoder_spec: str, dest: Path) -> Path:
    """``dest``, holding the shipped model described for indexes of ``encoder_spec``."""
    shipped = json.loads((MODEL_DIR / DESCRIPTION).read_text(encoding="utf-8"))
    manifest = {"model": model_entry(load_encoder(encoder_spec).identity)}
    shipped["fitted_with"] = fitted_with(manifest, ScoringModel.load().version)
    dest.mkdir(parents=True, exist_ok=True)
    for name in (shipped["file"], "tokenizer.json"):
        link = dest / name
        if not link.exists():
            link.symlink_to(MODEL_DIR / name)
    (dest / DESCRIPTION).write_text(json.dumps(shipped), encoding="utf-8")
    return dest


def with_answer_model(values: dict, workdir: Path) -> dict:
    """Settings values plus ``answer_model_dir`` when they select a test encoder."""
    spec = str(values.get("model", ""))
    if spec.startswith("hashing:") and "answer_model_dir" not in values:
        values = {**values, "answer_model_dir": answer_model_for(spec, workdir / "answer-model")}
    return values
