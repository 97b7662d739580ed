"""The recipe's dev choices: the shortlist size stays within what one read can afford."""

from __future__ import annotations

from eval.train_answer import recipe
from eval.train_answer.data import Example, QuestionExamples
from eval.train_answer.tune import Reading
from retriever import Scored


def _reading(qid: str, answer_at: int, source: str, answerable: bool = True,
             misread: bool = False) -> Reading:
    """A question whose answering candidate sits at ``answer_at`` in the pre-ranker's order, and
    which the reader scores above every other candidate (``misread``: below candidate 1)."""
    size = max(recipe.SHORTLISTS)
    candidates = tuple(
        Example(row=i, doc_id="d", context="", prerank=0.0,
                sentence="the answer" if answerable and i == answer_at else f"sentence {i}",
                label=int(answerable and i == answer_at), span=None)
        for i in range(size)
    )
    item = QuestionExamples(qid, source, "dev", f"question {qid}?",
                            ("answer",) if answerable else (), candidates)
    logits = [3.0 if answerable and i == answer_at else -1.0 for i in range(size)]
    if misread:
        logits[1] = 4.0
    return Reading(item, tuple(Scored(logit, None) for logit in logits))


def test_the_shortlist_is_the_largest_size_a_read_affords_even_when_larger_ones_select_better(
) -> None:
    # Half the answers sit beyond the affordable sizes: reading 12 would find them all.
    beyond = max(recipe.SHORTLISTS) - 1
    readings = {
        name: [_reading(f"{name}{i}", 0 if i % 2 else beyond, name) for i in range(20)]
        + [_reading(f"{name}-none{i}", 0, name, answerable=False) for i in range(4)]
        + [_reading(f"{name}-misread{i}", 0, name, misread=True) for i in range(4)]
        for name in recipe.DEV_SETS
    }
    choice = recipe.choose(readings)
    affordable = [n for n in recipe.SHORTLISTS if n <= recipe.MAX_READ_CANDIDATES]
    assert choice.candidates == max(affordable)
    selection = choice.notes["selection_by_n"]
    assert selection[max(recipe.SHORTLISTS)] > selection[choice.candidates]  # larger, not chosen
    assert choice.notes["max_read_candidates"] == recipe.MAX_READ_CANDIDATES


def _with_head(reading: Reading, answerable_logit: float) -> Reading:
    return Reading(reading.item, tuple(Scored(s.logit, s.span, answerable_logit)
                                       for s in reading.scored))


def test_an_answerability_head_gets_margins_that_refuse_what_the_reader_would_answer() -> None:
    # Unanswerable questions the reader scores like answerable ones (its best candidate at 3.0),
    # which only the head (low logit) tells apart: the margins must use the head.
    readings = {
        name: [_with_head(_reading(f"{name}{i}", 0, name), 2.0) for i in range(20)]
        + [_with_head(_reading(f"{name}-none{i}", 0, name, answerable=False), -2.0)
           for i in range(4)]
        for name in recipe.DEV_SETS
    }
    for name in recipe.DEV_SETS:  # the reader cannot see these are unanswerable
        readings[name] = [
            r if r.item.answerable else Reading(r.item, (Scored(3.0, None, -2.0),)
                                                + r.scored[1:])
            for r in readings[name]
        ]
    choice = recipe.choose(readings)
    assert choice.margins is not None
    assert choice.threshold == 0.0  # on the decision score
    figures = recipe.dev_figures(readings, choice.candidates, choice.threshold,
                                 choice.prerank_weight, choice.margins)
    for name in ("squad2", "gold"):
        assert figures[name]["abstention_recall"] == 1.0
        assert figures[name]["false_abstention"] == 0.0
    assert choice.notes["combined_alone"]["squad2"]["abstention_recall"] < 1.0


def test_without_a_head_there_are_no_margins() -> None:
    readings = {name: [_reading(f"{name}{i}", 0, name) for i in range(5)]
                + [_reading(f"{name}-none", 0, name, answerable=False)]
                for name in recipe.DEV_SETS}
    assert recipe.choose(readings).margins is None
