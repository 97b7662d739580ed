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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from eval.normalize import contains_answer, normalize_answer
from eval.train_answer.data import QuestionExamples
from retriever import Candidate, Margins, Scored


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
    batch: int | None = None,
) -> list[Reading]:
    """Each question's first ``n`` candidates, read ``batch`` at a time (all at once: None).
    With ``batch`` = the N serving reads in one call, the first N get exactly serving's
    readings: the int8 model quantizes activations over the whole batch, so a candidate's
    reading depends on what it is read beside."""
    out = []
    step = batch or max(n, 1)
    for item in items:
        cands = [Candidate(c.sentence, c.context) for c in item.candidates[:n]]
        scored = [s for i in range(0, len(cands), step)
                  for s in score(item.question, cands[i : i + step])]
        out.append(Reading(item, tuple(scored)))
    return out


def save_readings(
    path: Path, model_sha256: str, readings: dict[str, list[Reading]], batch: int | None = None
) -> None:
    """The model's scores per dev set, so choices can be revisited without reading again."""
    data = {
        "model_sha256": model_sha256,
        "batch": batch,
        "sets": {
            name: [[[s.logit, list(s.span) if s.span else None, s.answerable] for s in r.scored]
                   for r in rows]
            for name, rows in readings.items()
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def load_readings(
    path: Path, model_sha256: str, items: Mapping[str, Sequence[QuestionExamples]],
    batch: int | None = None,
) -> dict[str, list[Reading]] | None:
    """Saved readings of exactly this model file over exactly these items, read ``batch`` at
    a time, else None."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    sets = data.get("sets", {})
    if (data.get("model_sha256") != model_sha256 or set(sets) != set(items)
            or data.get("batch") != batch):
        return None
    out: dict[str, list[Reading]] = {}
    for name, rows in sets.items():
        if len(rows) != len(items[name]):
            return None
        out[name] = [
            Reading(item, tuple(
                Scored(float(cell[0]), tuple(cell[1]) if cell[1] else None,
                       None if len(cell) < 3 or cell[2] is None else float(cell[2]))
                for cell in row))
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


def outcomes(
    readings: Sequence[Reading], n: int, prerank_weight: float = 0.0,
    margins: Margins | None = None,
) -> list[Outcome]:
    """Each question's best candidate; its ``logit`` the combined score, or with ``margins``
    the decision score serving calibrates (``Margins.decision``, answered at 0 and above)."""
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
                _decision(reading, i, prerank_weight, margins),
                item.answerable and contains_answer(sentence, item.answers),
                f1,
                em,
            )
        )
    return out


def _decision(reading: Reading, i: int, prerank_weight: float, margins: Margins | None) -> float:
    combined = reading.combined(i, prerank_weight)
    answerable = reading.scored[i].answerable
    if margins is None:
        return combined
    if answerable is None:
        raise ValueError("margins given for readings without an answerability logit")
    return margins.decision(combined, answerable)


def best_answerable(readings: Sequence[Reading], n: int, prerank_weight: float) -> list[float]:
    """The answerability logit of each question's best candidate (NaN without a candidate or
    without a head)."""
    out = []
    for reading in readings:
        i = reading.best(n, prerank_weight)
        value = None if i is None else reading.scored[i].answerable
        out.append(float("nan") if value is None else value)
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


def either_outcomes(
    outcomes: list[Outcome], logits: list[float], rule: Margins
) -> list[Outcome]:
    """The outcomes re-scored so that ``summarize(rows, 0.0)`` applies ``rule``: a
    question is answered (score 0) only when both scores clear their thresholds."""
    return [
        replace(o, logit=0.0 if (o.logit >= rule.reader and v >= rule.answerable) else -math.inf)
        for o, v in zip(outcomes, logits, strict=True)
    ]


def choose_either(
    outcomes: dict[str, list[Outcome]],
    logits: dict[str, list[float]],
    max_false_abstention: dict[str, float],
    steps: int = 101,
) -> Margins:
    """The threshold pair with the most questions right on average over the dev sets, among
    those keeping every barred set's false abstention within its bar (``choose_threshold``'s
    rule over two thresholds; answering everything when no pair keeps the bars)."""
    grids = []
    for values in (
        [o.logit for rows in outcomes.values() for o in rows],
        [v for rows in logits.values() for v in rows],
    ):
        finite = np.array([x for x in values if np.isfinite(x)])
        grid = [-math.inf]
        if finite.size:
            grid += np.quantile(finite, np.linspace(0, 1, steps)).tolist()
        grids.append(np.array(grid))
    reader_grid, verifier_grid = grids
    best, best_score = Margins(-math.inf, -math.inf), -1.0
    scores = np.zeros((reader_grid.size, verifier_grid.size))
    keeps = np.ones_like(scores, dtype=bool)
    for name, rows in outcomes.items():
        r = np.array([o.logit for o in rows])
        v = np.nan_to_num(np.array(logits[name], dtype=float), nan=-math.inf)
        answerable = np.array([o.answerable for o in rows])
        right = np.array([o.correct_if_answered for o in rows])
        # answered[i, j, q]: question q answered at reader_grid[i], verifier_grid[j]
        answered = (r[None, None, :] >= reader_grid[:, None, None]) & (
            v[None, None, :] >= verifier_grid[None, :, None]
        )
        correct = np.where(answerable, answered & right, ~answered).sum(axis=2)
        scores += correct / len(rows)
        if name in max_false_abstention and answerable.any():
            false_abstention = (~answered & answerable).sum(axis=2) / answerable.sum()
            keeps &= false_abstention <= max_false_abstention[name]
    for i, j in zip(*np.nonzero(keeps), strict=True):
        if scores[i, j] > best_score:
            best, best_score = Margins(float(reader_grid[i]), float(verifier_grid[j])), \
                float(scores[i, j])
    return best


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
