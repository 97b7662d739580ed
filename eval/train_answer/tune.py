"""Read the dev questions' shortlists with an exported answer model, then choose on dev only:
the shortlist size N, the confidence calibration (Platt scaling) and the abstention threshold.

The readings are offline (the shortlists saved by ``build_data``), so every choice is made on
exactly the candidates serving would show the model. Test-split readings are computed by
``evaluate`` for the report only; nothing here fits on them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.normalize import contains_answer, normalize_answer
from eval.train_answer.data import QuestionExamples
from retriever import Candidate, Scored


@dataclass(frozen=True)
class Reading:
    """The model's scores for one question's shortlist (pre-ranker order)."""

    item: QuestionExamples
    scored: tuple[Scored, ...]

    def combined(self, i: int, prerank_weight: float) -> float:
        """The score serving ranks by (``AnswerModelInfo.combine``)."""
        return self.scored[i].logit + prerank_weight * self.item.candidates[i].prerank

    def best(self, n: int, prerank_weight: float = 0.0) -> int | None:
        head = range(min(n, len(self.scored)))
        if not head:
            return None
        return max(head, key=lambda i: (self.combined(i, prerank_weight), -i))


def read_all(
    score: Callable[[str, Sequence[Candidate]], list[Scored]],
    items: Sequence[QuestionExamples],
    n: int,
) -> list[Reading]:
    out = []
    for item in items:
        cands = [Candidate(c.sentence, c.context) for c in item.candidates[:n]]
        out.append(Reading(item, tuple(score(item.question, cands))))
    return out


def save_readings(path: Path, model_sha256: str, readings: dict[str, list[Reading]]) -> None:
    """The model's scores per dev set, so choices can be revisited without reading again."""
    data = {
        "model_sha256": model_sha256,
        "sets": {
            name: [[[s.logit, list(s.span) if s.span else None] for s in r.scored] for r in rows]
            for name, rows in readings.items()
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def load_readings(
    path: Path, model_sha256: str, items: Mapping[str, Sequence[QuestionExamples]]
) -> dict[str, list[Reading]] | None:
    """Saved readings of exactly this model file over exactly these items, else None."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    sets = data.get("sets", {})
    if data.get("model_sha256") != model_sha256 or set(sets) != set(items):
        return None
    out: dict[str, list[Reading]] = {}
    for name, rows in sets.items():
        if len(rows) != len(items[name]):
            return None
        out[name] = [
            Reading(item, tuple(Scored(float(lg), tuple(sp) if sp else None) for lg, sp in row))
            for item, row in zip(items[name], rows, strict=True)
        ]
    return out


def span_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1, best over the gold answers."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum(min(pred.count(t), gold.count(t)) for t in set(pred) & set(gold))
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


@dataclass(frozen=True)
class Outcome:
    answerable: bool
    logit: float  # best candidate's combined score (-inf when there is no candidate)
    correct_if_answered: bool
    span_f1: float
    span_em: bool


def outcomes(readings: Sequence[Reading], n: int, prerank_weight: float = 0.0) -> list[Outcome]:
    out = []
    for reading in readings:
        item, i = reading.item, reading.best(n, prerank_weight)
        if i is None:
            out.append(Outcome(item.answerable, -math.inf, False, 0.0, False))
            continue
        sentence = item.candidates[i].sentence
        span = reading.scored[i].span
        highlight = sentence[span[0] : span[1]] if span else sentence
        f1 = span_f1(highlight, item.answers) if item.answerable else 0.0
        em = item.answerable and any(
            normalize_answer(highlight) == normalize_answer(a) for a in item.answers
        )
        out.append(
            Outcome(
                item.answerable,
                reading.combined(i, prerank_weight),
                item.answerable and contains_answer(sentence, item.answers),
                f1,
                em,
            )
        )
    return out


def summarize(rows: Sequence[Outcome], threshold_logit: float) -> dict[str, float | int]:
    """Figures at an abstention threshold on the raw logit (calibration is monotone)."""
    answered = [r.logit >= threshold_logit for r in rows]
    ans = [(r, a) for r, a in zip(rows, answered, strict=True) if r.answerable]
    unans = [(r, a) for r, a in zip(rows, answered, strict=True) if not r.answerable]
    correct = sum(a and r.correct_if_answered for r, a in ans) + sum(not a for _, a in unans)
    return {
        "questions": len(rows),
        "answer_at_1": _share(a and r.correct_if_answered for r, a in ans),
        "selection_at_1": _share(r.correct_if_answered for r, _ in ans),
        "false_abstention": _share(not a for _, a in ans),
        "abstention_recall": _share(not a for _, a in unans) if unans else float("nan"),
        "overall_correct": correct / len(rows) if rows else float("nan"),
        "span_f1": _share_f(r.span_f1 if a else 0.0 for r, a in ans),
        "span_em": _share(a and r.span_em for r, a in ans),
    }


def _share(values: object) -> float:
    items = list(values)  # type: ignore[call-overload]
    return sum(bool(v) for v in items) / len(items) if items else float("nan")


def _share_f(values: object) -> float:
    items = list(values)  # type: ignore[call-overload]
    return float(sum(items) / len(items)) if items else float("nan")


def fit_platt(logits: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """P(correct | logit) = sigmoid(a·logit + b), by logistic regression (lightly regularised)."""
    from sklearn.linear_model import LogisticRegression

    finite = np.isfinite(logits)
    model = LogisticRegression(C=10.0).fit(logits[finite, None], correct[finite].astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def choose_threshold(
    rows_by_set: dict[str, list[Outcome]], max_false_abstention: dict[str, float]
) -> float:
    """The logit threshold with the most questions right on average over the dev sets, among
    those keeping every set's false abstention within its bar (the lowest bar-keeping threshold
    when none is better)."""
    logits = [r.logit for rows in rows_by_set.values() for r in rows if np.isfinite(r.logit)]
    grid = [-math.inf]
    if logits:
        grid += np.quantile(logits, np.linspace(0, 1, 401)).tolist()
    best, best_score = -math.inf, -1.0
    for t in grid:
        figures = {name: summarize(rows, t) for name, rows in rows_by_set.items()}
        bars = max_false_abstention.items()
        if any(figures[name]["false_abstention"] > bar for name, bar in bars):
            continue
        score = float(np.mean([f["overall_correct"] for f in figures.values()]))
        if score > best_score:
            best, best_score = t, score
    return best
