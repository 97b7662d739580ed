"""The verifier's training pairs (eval/train_answer/verifier.py): what it learns to say yes and
no to."""

from __future__ import annotations

import dataclasses
import math

from eval.train_answer import tune, verifier
from eval.train_answer.data import Example, QuestionExamples
from eval.train_answer.tune import Outcome


def _item(answers: tuple[str, ...], labels: list[tuple[str, int | None]]) -> QuestionExamples:
    return QuestionExamples(
        id="q", source="squad2", split="train", question="Who built it?", answers=answers,
        candidates=tuple(Example(row, doc, f"sentence {row}", f"context {row}", label, None)
                         for row, (doc, label) in enumerate(labels)),
    )


def _following(source: str, row: int) -> str:
    return f"after {row}"


def test_an_answerable_question_teaches_yes_beside_its_answer_and_no_elsewhere() -> None:
    item = _item(("Ann",), [("a", 0), ("b", None), ("a", 1), ("b", 0), ("c", 0)])
    with_elsewhere = dataclasses.replace(verifier.CONFIG, answerless_copies=1)
    pairs = verifier.verifier_pairs([item], _following, with_elsewhere)
    assert [(p.sentence, p.label) for p in pairs] == [
        ("sentence 2 after 2", 1),  # the answering candidate, read with the sentence after it
        ("sentence 3 after 3", 0),  # the best candidate of another document (b), not a maybe
    ]
    assert pairs[0].context == "context 2"
    plain = verifier.verifier_pairs([item], _following, verifier.CONFIG)
    assert [(p.sentence, p.label) for p in plain] == [("sentence 2 after 2", 1)]


def test_an_unanswerable_question_teaches_no_beside_its_best_candidates() -> None:
    item = _item((), [("a", 0), ("a", 0), ("b", 0)])
    pairs = verifier.verifier_pairs([item], _following, verifier.CONFIG)
    assert [(p.sentence, p.label) for p in pairs] == [("sentence 0 after 0", 0),
                                                      ("sentence 1 after 1", 0)]


def test_an_answerable_question_without_its_answer_in_the_shortlist_is_left_out() -> None:
    item = _item(("Ann",), [("a", 0), ("b", 0)])
    assert verifier.verifier_pairs([item], _following, verifier.CONFIG) == []


def test_the_answerability_score_replaces_the_logit_and_keeps_missing_readings_out() -> None:
    outcomes = [Outcome(True, 2.0, True, 1.0, True), Outcome(False, -math.inf, False, 0.0, False)]
    model = verifier.Answerability(a=0.5, v=2.0, b=-1.0)
    scored = verifier.answerability_outcomes(outcomes, [0.25, float("nan")], model)
    assert scored[0].logit == 0.5 and scored[0].correct_if_answered
    assert scored[1].logit == -math.inf


def test_either_rule_refuses_when_either_score_is_low() -> None:
    rows = [Outcome(True, 1.0, True, 1.0, True)] * 3
    rule = tune.Margins(reader=0.5, answerable=0.0)
    scored = tune.either_outcomes(rows, [1.0, -1.0, 1.0], rule)
    assert [o.logit for o in scored] == [0.0, -math.inf, 0.0]
    low_reader = tune.either_outcomes(rows, [1.0] * 3, dataclasses.replace(rule, reader=2.0))
    assert all(o.logit == -math.inf for o in low_reader)


def test_either_rule_is_chosen_within_the_false_abstention_bar() -> None:
    # Two answerable questions the verifier doubts a little, two unanswerable it doubts more:
    # the verifier alone separates them, and the bar forbids refusing an answerable one.
    rows = [Outcome(True, 1.0, True, 1.0, True), Outcome(True, 1.0, True, 1.0, True),
            Outcome(False, 1.0, False, 0.0, False), Outcome(False, 1.0, False, 0.0, False)]
    logits = [0.5, 0.6, -2.0, -3.0]
    rule = tune.choose_either({"s": rows}, {"s": logits}, {"s": 0.0})
    answered = [o.logit == 0.0 for o in tune.either_outcomes(rows, logits, rule)]
    assert answered == [True, True, False, False]


def test_either_rule_answers_everything_when_no_pair_keeps_the_bar() -> None:
    rows = [Outcome(True, 1.0, False, 0.0, False)]
    rule = tune.choose_either({"s": rows}, {"s": [float("nan")]}, {"s": -1.0})
    assert rule == tune.Margins(-math.inf, -math.inf)
