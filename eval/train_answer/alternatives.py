"""Non-neural answer-stage baselines, for comparison with the trained cross-encoder.

    python -m eval.train_answer.alternatives --out eval/results/answer-alternatives.json

Over the SQuAD 2.0 index, every candidate sentence of a question is scored by
(a) "linear": the shipped pre-ranker (``retriever/weights.json``, a logistic model over the
    sentence features of ``retriever/features.py``), and
(b) "gbdt": a HistGradientBoostingClassifier over the same features, fitted here on the candidates
    of TRAINING-article questions (unanswerable ones included: all their candidates are negatives;
    ambiguous candidates, label None, are left out).
Each is judged on DEV articles only: selection@1 (the best candidate answers) and abstention on the
max candidate score (threshold chosen on dev, so every figure is a dev figure). Test questions are
never read: they are dropped before any question is asked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval import datasets
from eval.datasets import Question
from eval.train_answer.build_data import INDEXES, ensure_indexes, retrieval_engine
from eval.train_answer.data import candidate_labels, doc_stems
from retriever import FEATURES, ScoringModel

MAX_FALSE_ABSTENTION = 0.10
GBDT_PARAMS: dict[str, Any] = {
    "max_iter": 200, "learning_rate": 0.1, "early_stopping": False, "random_state": 13,
}


@dataclass(frozen=True)
class Group:
    """One question's candidates: features (n x len(FEATURES)) and labels (1, 0, -1 = None)."""

    answerable: bool
    features: np.ndarray
    labels: np.ndarray


def collect(engine: Any, questions: Iterable[Question], name: str) -> list[Group]:
    stems = doc_stems(engine.corpus)
    out: list[Group] = []
    started = time.perf_counter()
    for i, q in enumerate(questions, 1):
        features, labels = candidate_labels(engine, q, stems)
        out.append(Group(q.answerable, np.asarray(features, np.float32), labels))
        if i % 250 == 0:
            print(f"{name}: {i} questions, {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return out


def best_and_confidence(
    groups: list[Group], score: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the best candidate's label (ties by lower index; -2 when no candidates) and
    the max candidate score (the confidence; -inf when no candidates)."""
    best, conf = [], []
    for g in groups:
        if len(g.labels) == 0:
            best.append(-2)
            conf.append(-np.inf)
            continue
        s = np.asarray(score(g.features), dtype=np.float64)
        i = int(np.argmax(s))  # first maximum: lowest index among ties
        best.append(int(g.labels[i]))
        conf.append(float(s[i]))
    return np.array(best), np.array(conf)


def figures_at(
    answerable: np.ndarray, correct: np.ndarray, conf: np.ndarray, threshold: float
) -> dict[str, float]:
    """Answer when conf >= threshold. ``correct``: the best candidate has label 1."""
    answered = conf >= threshold
    n_ans, n_unans = int(answerable.sum()), int((~answerable).sum())
    right = int((answerable & answered & correct).sum())
    abstained_unans = int((~answerable & ~answered).sum())
    return {
        "answer_at_1": right / max(n_ans, 1),
        "false_abstention": int((answerable & ~answered).sum()) / max(n_ans, 1),
        "abstention_recall": abstained_unans / max(n_unans, 1),
        "overall_correct": (right + abstained_unans) / max(len(conf), 1),
    }


def choose_threshold(
    answerable: np.ndarray, correct: np.ndarray, conf: np.ndarray,
    max_false_abstention: float = MAX_FALSE_ABSTENTION,
) -> tuple[float, dict[str, float], float]:
    """The threshold maximising overall correct with false abstention <= the cap (ties: the lowest
    threshold), its figures, and the highest abstention recall reachable under the cap."""
    candidates = np.unique(conf[np.isfinite(conf)])
    best: tuple[float, dict[str, float]] | None = None
    max_recall = 0.0
    for t in candidates:  # ascending: answering all first
        f = figures_at(answerable, correct, conf, float(t))
        if f["false_abstention"] > max_false_abstention + 1e-12:
            break  # false abstention only grows with the threshold
        max_recall = max(max_recall, f["abstention_recall"])
        if best is None or f["overall_correct"] > best[1]["overall_correct"]:
            best = (float(t), f)
    if best is None:  # no finite confidence, or even answering all abstains too often
        t = -np.inf
        best = (t, figures_at(answerable, correct, conf, t))
    return best[0], best[1], max_recall


def evaluate(dev: list[Group], score: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    best, conf = best_and_confidence(dev, score)
    answerable = np.array([g.answerable for g in dev])
    correct = best == 1
    threshold, at, max_recall = choose_threshold(answerable, correct, conf)
    finite = np.where(np.isfinite(conf), conf, np.nanmin(conf[np.isfinite(conf)]) - 1.0)
    r = 4
    return {
        "selection_at_1": round(float(correct[answerable].mean()), r),
        "abstention": {
            "threshold": round(threshold, r),
            "max_false_abstention": MAX_FALSE_ABSTENTION,
            **{k: round(v, r) for k, v in at.items()},
            "max_abstention_recall_at_cap": round(max_recall, r),
        },
        "roc_auc_answerable": round(float(roc_auc_score(answerable, finite)), r),
    }


def main(argv: list[str] | None = None) -> int:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/results/answer-alternatives.json"))
    parser.add_argument("--ensure-indexes", action="store_true",
                        help="build/update the indexes first (default: open the existing one)")
    args = parser.parse_args(argv)
    settings = Settings()
    started = time.perf_counter()
    if args.ensure_indexes:
        ensure_indexes(settings)
    engine = retrieval_engine(settings, INDEXES["squad2"])
    questions = [q for q in datasets.load_squad2() if q.split in ("train", "dev")]  # never test
    train = collect(engine, [q for q in questions if q.split == "train"], "train")
    dev = collect(engine, [q for q in questions if q.split == "dev"], "dev")

    x = np.concatenate([g.features[g.labels >= 0] for g in train])
    y = np.concatenate([g.labels[g.labels >= 0] for g in train])
    gbdt = HistGradientBoostingClassifier(**GBDT_PARAMS).fit(x, y)
    linear = ScoringModel.load()

    report = {
        "split": "dev",
        "index": str(INDEXES["squad2"]),
        "index_version": engine.version,
        "note": "threshold chosen on dev and reported on dev: every figure is a dev figure",
        "counts": {
            "train_questions": len(train),
            "train_answerable": sum(g.answerable for g in train),
            "train_candidates": int(len(y)),
            "train_positives": int(y.sum()),
            "train_left_out_ambiguous": int(sum((g.labels < 0).sum() for g in train)),
            "dev_questions": len(dev),
            "dev_answerable": sum(g.answerable for g in dev),
            "dev_unanswerable": sum(not g.answerable for g in dev),
            "dev_candidates": int(sum(len(g.labels) for g in dev)),
        },
        "linear": {
            "method": f"shipped pre-ranker {linear.version}: logistic model over "
            f"{len(FEATURES)} sentence features ({linear.fitted_on}); score = logit",
            **evaluate(dev, linear.score),
        },
        "gbdt": {
            "method": "sklearn HistGradientBoostingClassifier "
            f"({', '.join(f'{k}={v}' for k, v in GBDT_PARAMS.items())}) over the same "
            f"{len(FEATURES)} features, fitted on squad2 training-article candidates "
            "(unanswerable questions' candidates as negatives, ambiguous left out); "
            "score = P(answers)",
            **evaluate(dev, lambda f: gbdt.predict_proba(f)[:, 1]),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
