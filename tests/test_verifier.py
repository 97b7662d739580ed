"""The answer verifier at the engine's seam: it reads the best candidate with the sentence after
it, and its reading, not the reader's alone, decides abstention."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from index.pipeline import ingest
from retriever.answer_model import (
    DESCRIPTION,
    Answerability,
    AnswerModel,
    AnswerModelError,
    AnswerModelInfo,
)
from retriever.engine import Engine
from retriever.weights import ScoringModel
from tests.fake_encoder import HashingEncoder

from .conftest import SEEDS
from .fake_reader import WordOverlapReader

QUESTION = "Who is the Mayor of the Liverpool City Region?"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verifier")
    ingest([SEEDS], root / "index", HashingEncoder(dim=64), progress=False)
    return root / "index"


def test_answerability_is_a_logistic_of_both_scores() -> None:
    model = Answerability(a=0.5, v=2.0, b=-1.0)
    assert model(2.0, 0.5) == pytest.approx(1 / (1 + math.exp(-(1.0 + 1.0 - 1.0))))
    assert model(0.0, -1e9) == pytest.approx(0.0) and model(0.0, 1e9) == pytest.approx(1.0)


def test_the_verifier_reads_the_best_candidate_and_the_sentence_after(index: Path) -> None:
    reader = WordOverlapReader(index, verifier=True)
    engine = Engine.open(index, HashingEncoder(dim=64), ScoringModel.load(), reader=reader)
    answer = engine.ask(QUESTION)
    assert len(reader.verified) == 1  # one reading per question, on the best candidate only
    read = reader.verified[0]
    row = next(r for r in range(len(engine.corpus.snapshot.content.sentences))
               if engine.corpus.sentence_text(r) == read.sentence)
    assert read.following == engine.corpus.following_of(row)
    assert read.context == engine.corpus.context_of(row)
    verified = reader.verify(QUESTION, read)
    reader_only = WordOverlapReader(index)
    plain = Engine.open(index, HashingEncoder(dim=64), ScoringModel.load(),
                        reader=reader_only).ask(QUESTION)
    # Same choice of sentence; the confidence is the answerability model's, not Platt's.
    assert [c.doc_id for c in answer.citations[:1]] == [c.doc_id for c in plain.citations[:1]]
    assert reader.info.verifier is not None
    expected = reader.info.verifier.answerability(plain_combined(reader_only, plain), verified)
    assert answer.confidence == pytest.approx(expected, abs=1e-4)
    assert answer.abstained == (expected < reader.info.abstain_below)


def plain_combined(reader: WordOverlapReader, answer) -> float:
    """The reader's combined score behind a Platt confidence (a = 1, b = 0: the logit)."""
    p = answer.confidence
    return math.log(p / (1 - p))


def test_a_verifier_that_says_no_makes_the_engine_abstain(index: Path) -> None:
    class Doubting(WordOverlapReader):
        def verify(self, question, candidate):
            super().verify(question, candidate)
            return -50.0

    engine = Engine.open(index, HashingEncoder(dim=64), ScoringModel.load(),
                         reader=Doubting(index, verifier=True))
    answer = engine.ask(QUESTION)
    assert answer.abstained and answer.answer is None
    assert WordOverlapReader(index).info.verifier is None
    assert not Engine.open(index, HashingEncoder(dim=64), ScoringModel.load(),
                           reader=WordOverlapReader(index)).ask(QUESTION).abstained


def test_a_verifier_file_that_is_not_the_described_one_is_refused(tmp_path: Path) -> None:
    from retriever.answer_model import MODEL_DIR

    if AnswerModelInfo.read(MODEL_DIR).verifier is None:
        pytest.skip("the shipped answer model has no verifier")
    copy = tmp_path / "answer"
    shutil.copytree(MODEL_DIR, copy)
    described = json.loads((copy / DESCRIPTION).read_text())
    (copy / described["verifier"]["file"]).write_bytes(b"not the verifier")
    with pytest.raises(AnswerModelError, match=described["verifier"]["file"]):
        AnswerModel(copy)
    (copy / described["verifier"]["file"]).unlink()
    with pytest.raises(AnswerModelError, match="missing"):
        AnswerModel(copy)


def test_the_shipped_verifier_reads_a_candidate() -> None:
    from retriever.answer_model import MODEL_DIR, Candidate

    model = AnswerModel(MODEL_DIR)
    if model.info.verifier is None:
        pytest.skip("the shipped answer model has no verifier")
    logit = model.verify("Who signed the MoU?",
                         Candidate("The MoU was signed by the Mayor.", "Partnership.",
                                   "It covers research."))
    assert math.isfinite(logit)
