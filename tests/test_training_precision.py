"""Mixed precision in the answer model's training: bf16 where the hardware has it, chosen once and
recorded with the run, and a bf16 run still trains the real model."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from eval.train_answer.train import TrainConfig, resolve_precision  # noqa: E402
from tests.training_examples import write_tiny_training_data  # noqa: E402


def test_an_explicit_precision_is_kept_and_auto_picks_one() -> None:
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("auto") in ("bf16", "fp32")


def test_an_unknown_precision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_a_run_trains_in_the_precision_it_records(tmp_path, precision: str) -> None:
    from eval.train_answer.train import train

    data = write_tiny_training_data(tmp_path / "data")
    summary = train(data, tmp_path / "run", TrainConfig(
        layers=1, max_length=32, batch_size=8, threads=1, precision=precision))
    assert summary["precision"] == precision
    assert summary["config"]["precision"] == precision
    assert math.isfinite(summary["train_loss"])
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_the_model_card_says_how_the_model_was_trained() -> None:
    import json

    from eval.train_answer import card
    from retriever import MODEL_DIR

    description = json.loads((MODEL_DIR / "answer_model.json").read_text())
    notes = json.loads((MODEL_DIR / "training.json").read_text())
    said_of = {"fp32": "threads, fp32 (`--precision fp32`", "bf16": "bf16 mixed precision"}
    for precision, said in said_of.items():
        notes["train"]["precision"] = precision
        assert said in card.render(description, notes)
    del notes["train"]["precision"]  # runs from before the option trained in fp32
    assert "threads, fp32 (`--precision fp32`" in card.render(description, notes)
