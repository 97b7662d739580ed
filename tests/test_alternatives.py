"""The pure helpers of eval/train_answer/alternatives.py on tiny synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest

from eval.train_answer.alternatives import Group, best_and_confidence, choose_threshold


def test_best_candidate_ties_by_lower_index_and_empty_question() -> None:
    groups = [
        Group(True, np.array([[1.0], [3.0], [3.0]]), np.array([0, 1, 0])),
        Group(False, np.array([[2.0]]), np.array([0])),
        Group(True, np.zeros((0, 1)), np.zeros(0, dtype=int)),
    ]
    best, conf = best_and_confidence(groups, lambda f: f[:, 0])
    assert best.tolist() == [1, 0, -2]
    assert conf[:2].tolist() == [3.0, 2.0] and conf[2] == -np.inf


def test_threshold_maximises_overall_under_false_abstention_cap() -> None:
    # 10 answerable (conf 1..10, the 8 most confident with a correct best candidate) and 10
    # unanswerable (conf 0.5, 1.0, ..., 5.0). Abstaining below 2 drops one answerable of ten (the
    # cap) and catches three unanswerable; below 2.5 would drop two answerable (over the cap).
    answerable = np.array([True] * 10 + [False] * 10)
    correct = np.array([False, False] + [True] * 8 + [False] * 10)
    conf = np.concatenate([np.arange(1.0, 11.0), np.linspace(0.5, 5.0, 10)])
    threshold, f, max_recall = choose_threshold(answerable, correct, conf, 0.10)
    assert threshold == 2.0
    assert f["false_abstention"] == pytest.approx(0.1)
    assert f["answer_at_1"] == pytest.approx(0.8)
    assert f["abstention_recall"] == pytest.approx(0.3)
    assert f["overall_correct"] == pytest.approx((8 + 3) / 20)
    assert max_recall == pytest.approx(f["abstention_recall"])
