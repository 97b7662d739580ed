"""The answer model's optional answerability head: what it learns from, how its loss counts, and
how serving joins it to the decision (two thresholds, one calibrated score)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from retriever import AnswerModel, Margins, Scored
from retriever.answer_model import AnswerModelError, AnswerModelInfo, Calibration

torch = pytest.importorskip("torch")

from eval.train_answer.model import IGNORE  # noqa: E402
from eval.train_answer.train import TrainConfig, collate, training_pairs  # noqa: E402
from tests.training_examples import question, write_tiny_training_data  # noqa: E402


def test_the_head_learns_yes_from_answers_and_no_only_from_unanswerable_questions() -> None:
    items = [question("a", [0, 1, 0]), question("b", [0, 0, 0])]
    pairs = training_pairs(items, TrainConfig(negatives=2, unanswerable_negatives=2))
    # (answer label, answerability label): another sentence of an answerable question says
    # nothing about whether the question is answered, so the head does not learn from it
    assert [(p.label, p.answerable) for p in pairs] == [(1, 1), (0, None), (0, None),
                                                         (0, 0), (0, 0)]


def test_batches_carry_the_answerability_labels_with_unlabelled_rows_ignored() -> None:
    def row(label: int) -> dict[str, object]:
        return {"input_ids": [1, 2], "attention_mask": [1, 1], "token_type_ids": [0, 0],
                "labels": 0, "start_positions": IGNORE, "end_positions": IGNORE,
                "answerable_labels": label}

    batch = collate([row(1), row(IGNORE), row(0)])
    assert batch["answerable_labels"].tolist() == [1, IGNORE, 0]


def test_the_decision_is_the_smaller_margin_and_either_score_can_refuse() -> None:
    margins = Margins(reader=1.0, answerable=-0.5)
    assert margins.decision(3.0, 0.5) == pytest.approx(1.0)  # both clear: the smaller margin
    assert margins.decision(0.5, 4.0) < 0  # the reader's score is too low
    assert margins.decision(4.0, -1.0) < 0  # the head says the question is not answered here


def _info(margins: Margins | None) -> AnswerModelInfo:
    return AnswerModelInfo(name="m", file="f", sha256="s", max_length=32, candidates=2,
                           calibration=Calibration(1.0, 0.0), abstain_below=0.5, fitted_with={},
                           margins=margins)


def test_without_margins_the_combined_score_decides_as_before() -> None:
    assert _info(None).decision(2.5, Scored(2.0, None, -9.0)) == 2.5


def test_margins_without_a_head_reading_are_an_error_not_a_silent_answer() -> None:
    with pytest.raises(AnswerModelError, match="no answerability logit"):
        _info(Margins(0.0, 0.0)).decision(2.5, Scored(2.0, None))


@pytest.mark.slow
def test_a_trained_head_is_exported_read_and_required_by_its_description(tmp_path: Path) -> None:
    """A few Trainer steps on the bundled weights with the head, exported to ONNX and loaded by
    the real loader: every candidate gets an answerability logit, and a description with margins
    refuses a file without the head."""
    from eval.train_answer import export
    from eval.train_answer.train import base_model_dir, train
    from retriever import Candidate, file_sha256

    data = write_tiny_training_data(tmp_path / "data")
    config = TrainConfig(layers=1, max_length=32, batch_size=8, threads=1,
                         answerability_weight=1.0)
    summary = train(data, tmp_path / "run", config)
    assert math.isfinite(summary["train_loss"])
    files = export.export(tmp_path / "run", tmp_path / "onnx", layers=1, answerability=True)

    def model_dir(file: Path, margins: Margins | None) -> Path:
        out = tmp_path / f"model-{file.parent.name}-{margins is not None}"
        out.mkdir()
        shutil.copy(file, out / file.name)
        shutil.copy(base_model_dir() / "tokenizer.json", out / "tokenizer.json")
        description = {
            "name": "tiny", "file": file.name, "sha256": file_sha256(file), "max_length": 32,
            "candidates": 2, "calibration": {"a": 1.0, "b": 0.0}, "abstain_below": 0.5,
            "fitted_with": {},
            **({"margins": {"reader": 0.0, "answerable": 0.0}} if margins else {}),
        }
        (out / "answer_model.json").write_text(json.dumps(description))
        return out

    model = AnswerModel(model_dir(files["int8"], Margins(0.0, 0.0)), threads=1)
    read = model.score("Who wrote it?", [Candidate("Ada Lovelace wrote it in 1901.", "Title"),
                                        Candidate("It rained.", "Title")])
    assert all(s.answerable is not None and math.isfinite(s.answerable) for s in read)
    assert model.info.margins == Margins(0.0, 0.0)

    # the shipped model has no head: margins in its description are refused at load
    from retriever import MODEL_DIR

    shipped = json.loads((MODEL_DIR / "answer_model.json").read_text())
    with pytest.raises(AnswerModelError, match="no answerability head"):
        AnswerModel(model_dir(MODEL_DIR / shipped["file"], Margins(0.0, 0.0)), threads=1)


def test_margins_round_trip_through_the_description_with_no_bound_as_null() -> None:
    margins = Margins(reader=-math.inf, answerable=0.25)
    assert margins.to_json() == {"reader": None, "answerable": 0.25}
    assert json.loads(json.dumps(margins.to_json())) == margins.to_json()  # strict JSON
    assert Margins.from_json(margins.to_json()) == margins
    assert margins.decision(-1e9, 1.25) == pytest.approx(1.0)  # no reader bound: the head decides
