"""Fit the pre-ranker: the linear model over sentence features (retriever/features.py) that
orders each question's candidates so the answer model reads only the best N.

    python -m eval.train_answer.prerank [--out retriever/weights.json]

Fitted on training articles only (logistic regression: does this candidate lie in the gold
paragraph and hold a gold answer?), and judged on dev articles by recall@N, the share of
answerable questions whose answer-bearing sentence is among the first N.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from eval import datasets
from eval.datasets import Question
from eval.train_answer.build_data import INDEXES, ensure_indexes, retrieval_engine
from eval.train_answer.data import candidate_labels, doc_stems
from retriever import FEATURES, WEIGHTS_PATH, ScoringModel

RECALL_AT = (1, 4, 8, 12)


def labelled_features(
    engine: Any, questions: Iterable[Question]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per answerable question: its candidates' feature matrix and 0/1/-1 labels (-1: left out)."""
    stems = doc_stems(engine.corpus)
    return [candidate_labels(engine, q, stems) for q in questions if q.answerable]


def fit(groups: list[tuple[np.ndarray, np.ndarray]]) -> ScoringModel:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([f[lab >= 0] for f, lab in groups])
    y = np.concatenate([lab[lab >= 0] for _, lab in groups])
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    weights = {name: round(float(w), 4) for name, w in zip(FEATURES, model.coef_[0], strict=True)}
    digest = hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:8]
    return ScoringModel(
        version=f"prerank-{digest}",
        feature_weights=weights,
        intercept=round(float(model.intercept_[0]), 4),
        fitted_on=f"training articles only: {len(groups)} answerable questions, "
        f"{len(y)} candidates",
    )


def recall(groups: list[tuple[np.ndarray, np.ndarray]], model: ScoringModel) -> dict[int, float]:
    hits = {n: 0 for n in RECALL_AT}
    for features, labels in groups:
        scores = model.score(features)
        order = np.lexsort((np.arange(len(scores)), -scores))
        first = next((rank for rank, i in enumerate(order) if labels[i] == 1), None)
        for n in RECALL_AT:
            hits[n] += first is not None and first < n
    return {n: round(h / max(len(groups), 1), 4) for n, h in hits.items()}


def main(argv: list[str] | None = None) -> int:
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    settings = Settings()

    ensure_indexes(settings)
    squad = retrieval_engine(settings, INDEXES["squad"])
    squad2 = retrieval_engine(settings, INDEXES["squad2"])
    v2 = datasets.load_squad2()
    train = labelled_features(squad, datasets.load_squad_train()) + labelled_features(
        squad2, [q for q in v2 if q.split == "train"]
    )
    dev = labelled_features(squad2, [q for q in v2 if q.split == "dev"])
    previous = ScoringModel.load() if WEIGHTS_PATH.exists() else None
    model = fit(train)
    report = {"fitted": model.version, "dev_recall": recall(dev, model)}
    if previous is not None:
        report["previous"] = previous.version
        report["previous_dev_recall"] = recall(dev, previous)
    model.save(args.out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
