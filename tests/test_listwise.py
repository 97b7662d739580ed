"""The listwise loss of the answer model's training: each question's candidates compete with a
null choice, so a question none of them answers teaches the model to leave them all low."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from eval.train_answer.model import listwise_loss  # noqa: E402
from eval.train_answer.train import (  # noqa: E402
    TrainConfig,
    collate,
    training_groups,
    training_pairs,
)
from tests.training_examples import question, write_tiny_training_data  # noqa: E402


def test_the_loss_is_the_likelihood_of_the_answers_or_of_null() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, 1.0, -2.0])
    labels = torch.tensor([1, 0, 0, 0, 0])
    groups = torch.tensor([0, 0, 0, 1, 1])  # question 0 is answered by row 0; question 1 by none
    answered = math.log(1 + math.exp(2.0) + math.exp(-1.0) + math.exp(0.5)) - 2.0
    unanswered = math.log(1 + math.exp(1.0) + math.exp(-2.0))
    loss = listwise_loss(logits, labels, groups)
    assert loss.item() == pytest.approx((answered + unanswered) / 2, rel=1e-6)


def test_the_gradient_raises_answers_and_lowers_everything_when_none_answers() -> None:
    logits = torch.zeros(4, requires_grad=True)
    listwise_loss(logits, torch.tensor([0, 1, 0, 0]), torch.tensor([0, 0, 1, 1])).backward()
    grad = logits.grad.tolist()
    assert grad[1] < 0 < grad[0]  # descent raises the answer, lowers its rival
    assert grad[2] > 0 and grad[3] > 0  # and lowers the candidates of an unanswered question


def test_several_answering_candidates_share_the_likelihood() -> None:
    logits = torch.tensor([1.0, 1.0])
    loss = listwise_loss(logits, torch.tensor([1, 1]), torch.tensor([0, 0]))
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.e) - math.log(2 * math.e))


def test_groups_hold_each_questions_pairs_and_flatten_to_the_pointwise_pairs() -> None:
    items = [question("a", [0, 1, 0, None, 0, 0]), question("b", [0, 0, 0, 0, 0, 0])]
    config = TrainConfig(negatives=2, unanswerable_negatives=3)
    groups = training_groups(items, config)
    assert [[p.label for p in g] for g in groups] == [[1, 0, 0], [0, 0, 0]]
    assert training_pairs(items, config) == [p for g in groups for p in g]


def test_listwise_batches_carry_each_rows_question() -> None:
    def pair(label: int, width: int) -> dict[str, object]:
        return {"input_ids": [1] * width, "attention_mask": [1] * width,
                "token_type_ids": [0] * width, "labels": label, "start_positions": -100,
                "end_positions": -100}

    batch = collate([{"pairs": [pair(1, 3), pair(0, 5)]}, {"pairs": [pair(0, 2)]}])
    assert batch["groups"].tolist() == [0, 0, 1]
    assert batch["labels"].tolist() == [1, 0, 0]
    assert batch["input_ids"].shape == (3, 5)


@pytest.mark.slow
def test_a_listwise_run_trains_the_real_model_end_to_end(tmp_path) -> None:
    """A few steps of transformers' Trainer on the bundled weights with the listwise loss."""
    from eval.train_answer.train import train

    data = write_tiny_training_data(tmp_path / "data")
    summary = train(data, tmp_path / "run", TrainConfig(
        loss="listwise", layers=1, max_length=32, batch_size=8, threads=1))
    assert summary["groups"] == 4 and summary["pairs"] == 3 * 4 + 4
    assert math.isfinite(summary["train_loss"])
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_an_answerless_copy_is_the_question_with_its_answers_taken_away() -> None:
    items = [question("a", [0, 1, 0, 0, 0, 0])]
    listwise = TrainConfig(loss="listwise", negatives=2, answerless_copies=1)
    original, copy = training_groups(items, listwise)
    assert [p.label for p in original] == [1, 0, 0]
    assert [p.label for p in copy] == [0, 0, 0]  # the next best stand in: the shortlist's size
    assert {p.sentence for p in copy} == {f"Sentence {i} in 1901 by Ada Lovelace." for i in
                                          (0, 2, 3)}
    # pointwise pairs are judged one by one: a copy would only repeat negatives
    assert len(training_groups(items, TrainConfig(negatives=2, answerless_copies=1))) == 1
