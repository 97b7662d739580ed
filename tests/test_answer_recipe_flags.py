"""The recipe's flags: each training setting it offers reaches the training configuration."""

from __future__ import annotations

import pytest

from eval.train_answer import recipe, train


def test_without_flags_the_recipe_trains_with_the_configurations_defaults() -> None:
    assert recipe.training_config(recipe.parse_args([])) == train.TrainConfig()


def test_each_training_flag_reaches_the_configuration() -> None:
    args = recipe.parse_args([
        "--learning-rate", "1e-4", "--negatives", "2", "--unanswerable-negatives", "8",
        "--epochs", "3", "--precision", "fp32", "--loss", "listwise",
        "--answerless-copies", "1", "--swap-negatives", "1", "--answerability-weight", "0.5",
    ])
    config = recipe.training_config(args)
    assert (config.learning_rate, config.negatives, config.unanswerable_negatives) == (
        1e-4, 2, 8)
    assert (config.epochs, config.precision, config.loss) == (3.0, "fp32", "listwise")
    assert (config.answerless_copies, config.swap_negatives) == (1, 1)
    assert config.answerability_weight == 0.5


def test_a_malformed_setting_is_refused_before_anything_runs(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        recipe.parse_args(["--negatives", "two"])
    assert "--negatives" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [
    ("--negatives", "-1"), ("--unanswerable-negatives", "-2"), ("--learning-rate", "0"),
    ("--epochs", "-1"),
])
def test_a_setting_outside_its_range_is_refused(
        flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        recipe.parse_args([flag, value])
    assert flag in capsys.readouterr().err
