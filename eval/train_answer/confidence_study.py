"""Which shortlist signals say "none of these answers"? A dev-only study of the confidence model.

    python -m eval.train_answer.confidence_study --data var/answer-data \
        --out eval/results/confidence-study.md

Serving abstains when the calibrated confidence of the best candidate is low. Today that
confidence is Platt scaling of one number, the best candidate's combined score. This study asks
whether a logistic model over a few shortlist-level signals (the best score, the runner-up, the
margin, the reader's and the pre-ranker's parts, how peaked the shortlist is) separates
unanswerable questions better. It reads the dev questions only, with the shipped answer model, and
compares feature sets by cross-validation grouped by article (no article on both sides of a fold):
every figure it prints is a dev figure, used for choosing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval import datasets
from eval.markdown_table import markdown_table
from eval.train_answer import support, tune
from eval.train_answer.data import QuestionExamples, read_examples
from retriever import MODEL_DIR, AnswerModel

SIGNALS: tuple[str, ...] = (
    "best",  # the best combined score
    "margin",  # best minus the runner-up (0 with a single candidate)
    "best_reader",  # the reader's logit for the best candidate
    "best_prerank",  # the pre-ranker's score for the best candidate
    "top_reader",  # the highest reader logit in the shortlist
    "peak",  # best minus log-sum-exp of all combined scores (0: one candidate dominates)
    "readers_for",  # how many candidates the reader alone thinks answer (logit > 0)
)


def shortlist_signals(
    logits: Sequence[float], preranks: Sequence[float], prerank_weight: float
) -> dict[str, float]:
    """The signals of one shortlist (``logits`` and ``preranks`` aligned, at least one)."""
    if not logits:
        raise ValueError("a shortlist needs at least one candidate")
    combined = [lg + prerank_weight * pr for lg, pr in zip(logits, preranks, strict=True)]
    order = sorted(range(len(combined)), key=lambda i: -combined[i])
    best = combined[order[0]]
    runner_up = combined[order[1]] if len(order) > 1 else best
    top = max(combined)
    log_sum = top + math.log(sum(math.exp(c - top) for c in combined))
    return {
        "best": best,
        "margin": best - runner_up,
        "best_reader": float(logits[order[0]]),
        "best_prerank": float(preranks[order[0]]),
        "top_reader": float(max(logits)),
        "peak": best - log_sum,
        "readers_for": float(sum(lg > 0 for lg in logits)),
    }


FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "best score (today's Platt)": ("best",),
    "best + margin": ("best", "margin"),
    "best + parts": ("best", "best_reader", "best_prerank"),
    "all signals": SIGNALS,
    "best + coverage": ("best", "uncovered_rarest", "unknown_mass", "matched_evidence"),
    "best + coverage + shares": ("best", *support.SUPPORT),
    "all signals + support": (*SIGNALS, *support.SUPPORT),
}
FALSE_ABSTENTION_BAR = 0.10
FOLDS = 5


def article_of() -> dict[str, str]:
    """Question id → its article (document), for grouping folds."""
    out: dict[str, str] = {}
    for q in [*datasets.load_squad2(), *datasets.load_gold()]:
        out[q.id] = q.docs[0] if q.docs else q.id
    return out


def signal_rows(readings: Sequence[tune.Reading], n: int, weight: float) -> np.ndarray:
    rows = []
    for r in readings:
        k = min(n, len(r.scored))
        logits = [r.scored[i].logit for i in range(k)]
        preranks = [r.item.candidates[i].prerank for i in range(k)]
        rows.append([shortlist_signals(logits, preranks, weight)[s] for s in SIGNALS])
    return np.asarray(rows, dtype=np.float64)


def support_rows(
    readings: Sequence[tune.Reading], n: int, weight: float, corpus: Any
) -> np.ndarray:
    """The support signals of each question's best candidate (``corpus``: its index's Corpus,
    for the IDFs), over the texts the answer model read."""
    from index.lexical import tokenize
    from retriever import content_terms

    unseen = corpus.idf_of("\x00unseen")
    rows = []
    for r in readings:
        best = r.best(n, weight)
        if best is None:
            rows.append([0.0] * len(support.SUPPORT))
            continue
        cand = r.item.candidates[best]
        found = support.answer_support(content_terms(tokenize(r.item.question)),
                               frozenset(tokenize(cand.sentence)),
                               frozenset(tokenize(cand.context)), corpus.idf_of, unseen)
        rows.append([found[s] for s in support.SUPPORT])
    return np.asarray(rows, dtype=np.float64)


def cross_validated(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for fit, held in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x[fit], y[fit])
        out[held] = model.predict_proba(x[held])[:, 1]
    return out


def at_bar(p: np.ndarray, answerable: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Figures at the lowest-threshold point that keeps false abstention within the bar, and the
    best overall correctness under that bar."""
    best: dict[str, float] = {}
    for t in np.unique(np.concatenate([[0.0], p])):
        answered = p >= t
        fa = float(np.mean(~answered[answerable]))
        if fa > FALSE_ABSTENTION_BAR:
            continue
        recall = float(np.mean(~answered[~answerable])) if (~answerable).any() else float("nan")
        overall = float(np.mean(np.where(answerable, answered & correct, ~answered)))
        if not best or overall > best["overall_correct"]:
            best = {"threshold": float(t), "false_abstention": fa, "abstention_recall": recall,
                    "overall_correct": overall}
    return best


def _corpus(name: str) -> Any:
    from eval.train_answer.build_data import INDEXES
    from index.store import load_snapshot
    from retriever import Corpus
    from service.settings import Settings

    return Corpus.from_snapshot(load_snapshot(INDEXES.get(name, Settings().index_dir)))


def render(results: dict[str, dict[str, dict[str, float]]], n: int, weight: float) -> str:
    lines = [
        "# Confidence model study: shortlist signals for abstention (dev only)",
        "",
        "Written by `python -m eval.train_answer.confidence_study`. The shipped answer model "
        f"reads "
        f"the best {n} pre-ranked candidates of every dev question (combined score = reader logit "
        f"+ {weight} x pre-ranker score). A logistic model over each feature set predicts whether "
        f"answering with the best candidate is right; its probabilities are cross-validated over "
        f"{FOLDS} folds grouped by article, and each row reports the threshold with the most "
        f"questions right among those keeping false abstention within {FALSE_ABSTENTION_BAR}. "
        "Every figure is a dev figure, used for choosing; no test question is read.",
        "",
        "Signals: " + ", ".join(f"`{s}`" for s in SIGNALS) + " (see the module). Support "
        "signals of the best candidate, over the sentence and context the model read "
        "(`eval/train_answer/support.py`): " + ", ".join(f"`{s}`" for s in support.SUPPORT)
        + ".",
        "",
    ]
    for name, rows in results.items():
        lines += [f"## {name} dev articles", ""]
        lines += markdown_table(
            ("feature set", "false abstention", "abstention recall", "overall correct"),
            [(label, f"{r['false_abstention']:.3f}", f"{r['abstention_recall']:.3f}",
              f"{r['overall_correct']:.3f}") for label, r in rows.items()],
        )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("var/answer-data"))
    parser.add_argument("--out", type=Path, default=None, help="markdown report")
    parser.add_argument("--json", type=Path, default=None, help="raw figures")
    args = parser.parse_args(argv)
    reader = AnswerModel(MODEL_DIR, threads=2)
    n, weight = reader.info.candidates, reader.info.prerank_weight
    articles = article_of()
    corpora = {name: _corpus(name) for name in ("squad2", "gold")}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("squad2", "gold"):
        items: list[QuestionExamples] = [
            i for i in read_examples(args.data / f"{name}.jsonl") if i.split == "dev"
        ]
        readings = tune.read_all(reader.score, items, n)
        x_all = np.hstack([
            signal_rows(readings, n, weight),
            support_rows(readings, n, weight, corpora[name]),
        ])
        answerable = np.array([i.answerable for i in items])
        outcomes = tune.outcomes(readings, n, weight)
        correct = np.array([o.correct_if_answered for o in outcomes])
        y = (answerable & correct).astype(int)
        groups = np.array([articles.get(i.id, i.id) for i in items])
        results[name] = {}
        if len(set(groups)) < FOLDS:
            continue
        for label, names in FEATURE_SETS.items():
            cols = [(*SIGNALS, *support.SUPPORT).index(s) for s in names]
            p = cross_validated(x_all[:, cols], y, groups)
            results[name][label] = at_bar(p, answerable, correct)
            print(name, label, json.dumps(results[name][label]), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.out:
        args.out.write_text(render(results, n, weight), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
