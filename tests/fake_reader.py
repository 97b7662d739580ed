"""A stand-in for the answer model at its seam, for fast unit tests on hashing-encoder indexes.

It reads nothing: a candidate's logit is the number of question words the sentence repeats, less
one, so a sentence sharing two or more words "answers". The real model is tested through the
seed index (tests/test_answer_model.py and the answer tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from index.store import load_snapshot
from retriever.answer_model import (
    AnswerModelInfo,
    Calibration,
    Candidate,
    Scored,
    fitted_with,
)
from retriever.weights import ScoringModel


class WordOverlapReader:
    def __init__(self, index_dir: Path, *, candidates: int = 8) -> None:
        with load_snapshot(index_dir, lease=False) as snapshot:
            manifest = snapshot.manifest
        self.info = AnswerModelInfo(
            name="word-overlap-test-reader",
            file="",
            sha256="",
            max_length=96,
            candidates=candidates,
            calibration=Calibration(a=1.0, b=0.0),
            abstain_below=0.5,
            fitted_with=fitted_with(manifest, ScoringModel.load().version),
        )

    def score(self, question: str, candidates: Sequence[Candidate]) -> list[Scored]:
        asked = {w.strip("?.,").lower() for w in question.split()}
        out = []
        for cand in candidates:
            words = {w.strip("?.,").lower() for w in cand.sentence.split()}
            out.append(Scored(float(len(asked & words) - 1), None))
        return out
