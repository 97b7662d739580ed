"""Fit the sentence-scoring weights, the confidence calibration and the abstention threshold on
dev questions only (the SQuAD sample's dev half and the seed gold set's dev split), and write
``retriever/weights.json``.

1. Ranker: a linear model over retriever/features.py, fitted listwise — per question, a softmax
   over its candidate sentences, maximising the probability of the candidates whose answer span
   contains a gold answer (L2-regularised, L-BFGS). This optimises top-1 choice directly.
2. Calibration: Platt-style logistic regression from the best candidate's inputs
   (retriever.engine.calibration_inputs) to "the answer is right" (unanswerable: never right).
3. Threshold: the confidence below which to abstain, maximising (right answers + abstentions on
   unanswerable questions) / questions while abstaining on at most the share of answerable
   questions that the quality gate allows (eval/baseline.json, maximums.false_abstention_rate:
   one bar for fitting and gating), on the seed gold dev split: the only dev set
   with real unanswerable questions in the product's own mix (masked SQuAD questions teach the
   calibrator what absence looks like, but their 1:1 mix would overstate how often users ask
   the impossible).

Usage: python -m eval.fit_weights [--seed-index var/index] [--squad-index var/bench/squad-index]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from index.embed import SentenceTransformerEncoder
from retriever.compose import answer_span
from retriever.corpus import Corpus
from retriever.engine import Candidates, Engine, calibration_inputs
from retriever.features import FEATURES
from retriever.weights import CALIBRATION_FEATURES, WEIGHTS_PATH, ScoringModel

from .datasets import Question, load_gold, load_squad
from .gate import load_baseline
from .normalize import contains_answer

L2_RANKER = 0.001
L2_CALIBRATION = 0.001  # on standardised inputs


@dataclass(frozen=True)
class Example:
    dataset: str
    question: Question
    candidates: Candidates
    labels: np.ndarray  # 1.0 where the candidate's answer span holds a gold answer
    corpus: Corpus
    absent: frozenset[str] = frozenset()  # terms to treat as unseen (masked documents' own)


def collect(engine: Engine, questions: list[Question], dataset: str) -> list[Example]:
    out = []
    for q in questions:
        cands = engine.candidates(q.question)
        labels = np.array(
            [
                contains_answer(
                    answer_span(engine.corpus, int(row), cands.qtype, cands.question).text,
                    q.answers,
                )
                for row in cands.rows
            ],
            dtype=np.float64,
        )
        out.append(Example(dataset, q, cands, labels, engine.corpus))
    return out


def masked_gold(engine: Engine, examples: list[Example]) -> list[Example]:
    """Near-topic unanswerable questions: the same questions with every candidate from the
    supporting documents removed, and the terms only those documents contain treated as unseen,
    as if those documents had never been indexed."""
    token_docs: dict[str, set[str]] = {}
    content = engine.corpus.snapshot.content
    for sentence, tokens in zip(content.sentences, content.sentence_tokens, strict=True):
        for token in tokens:
            token_docs.setdefault(token, set()).add(sentence.doc_id)
    out = []
    for e in examples:
        absent = frozenset(
            t
            for t in e.candidates.question_tokens
            if t in token_docs and token_docs[t] <= set(e.question.docs)
        )
        keep = np.array(
            [
                engine.corpus.snapshot.content.sentences[int(r)].doc_id not in e.question.docs
                for r in e.candidates.rows
            ],
            dtype=bool,
        )
        if not keep.any():
            continue
        cands = replace(
            e.candidates, rows=e.candidates.rows[keep], features=e.candidates.features[keep]
        )
        question = replace(e.question, answers=(), id=e.question.id + "-masked")
        out.append(
            Example(
                e.dataset + "-masked",
                question,
                cands,
                np.zeros(int(keep.sum())),
                e.corpus,
                absent,
            )
        )
    return out


def fit_ranker(examples: list[Example]) -> tuple[np.ndarray, float]:
    usable = [e for e in examples if e.labels.any() and len(e.labels) > 1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for e in usable:
            x = e.candidates.features.astype(np.float64)
            s = x @ w
            s -= s.max()
            p = np.exp(s) / np.exp(s).sum()
            pos = e.labels > 0
            p_pos = p[pos].sum()
            total -= np.log(p_pos + 1e-12)
            # d(-log Σ_pos p)/dw = Σ_all p x - Σ_pos (p / p_pos) x
            grad += p @ x - (p[pos] / (p_pos + 1e-12)) @ x[pos]
        n = max(len(usable), 1)
        return total / n + L2_RANKER * float(w @ w), grad / n + 2 * L2_RANKER * w

    width = usable[0].candidates.features.shape[1] if usable else len(FEATURES)
    result = minimize(loss, np.zeros(width), jac=True, method="L-BFGS-B")
    return result.x, 0.0  # softmax is shift-invariant: the intercept is calibration's job


def fit_logistic(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray
) -> tuple[np.ndarray, float]:
    """Weighted, L2-regularised logistic regression (weights sum to 1), fitted on standardised
    inputs so that the penalty treats a 0–1 share and a 0–20 score alike, and returned in the
    raw inputs' units."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    w, b = _fit_logistic_standardised((x - mean) / scale, y, sample_weight)
    return w / scale, b - float(np.sum(w * mean / scale))


def _fit_logistic_standardised(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray
) -> tuple[np.ndarray, float]:
    sw = sample_weight / sample_weight.sum()

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        z = x @ w + b
        p = 1 / (1 + np.exp(-np.clip(z, -50, 50)))
        eps = 1e-12
        value = -np.sum(sw * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        g = sw * (p - y)
        grad = np.concatenate([x.T @ g + 2 * L2_CALIBRATION * w, [g.sum()]])
        return value + L2_CALIBRATION * float(w @ w), grad

    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return result.x[:-1], float(result.x[-1])


def source(example: Example) -> str:
    """The question set an example came from (masked SQuAD questions count as SQuAD)."""
    return example.dataset.removesuffix("-masked")


def top_outcomes(
    examples: list[Example], model: ScoringModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: calibration inputs of the best candidate, whether it is right, and a weight
    that gives each question set the same total say."""
    sizes: dict[str, int] = {}
    for e in examples:
        sizes[source(e)] = sizes.get(source(e), 0) + 1
    rows, right, weight = [], [], []
    for e in examples:
        scores = model.score(e.candidates.features)
        order = sorted(
            range(len(scores)), key=lambda i: (-float(scores[i]), int(e.candidates.rows[i]))
        )
        if not order:
            continue
        inputs = calibration_inputs(e.corpus, e.candidates, scores, order, e.absent)
        rows.append([inputs[k] for k in CALIBRATION_FEATURES])
        right.append(float(e.question.answerable and e.labels[order[0]] > 0))
        weight.append(1.0 / sizes[source(e)])
    return np.array(rows), np.array(right), np.array(weight)


def max_false_abstention() -> float:
    """The share of answerable questions the product may refuse: the gate's own bar."""
    return float(load_baseline()["maximums"]["false_abstention_rate"])


def choose_threshold(
    examples: list[Example], model: ScoringModel, max_refused: float
) -> tuple[float, dict[str, float]]:
    per_dataset: dict[str, list[tuple[float, bool, bool]]] = {}
    for e in examples:
        scores = model.score(e.candidates.features)
        order = sorted(
            range(len(scores)), key=lambda i: (-float(scores[i]), int(e.candidates.rows[i]))
        )
        conf = (
            model.confidence(calibration_inputs(e.corpus, e.candidates, scores, order, e.absent))
            if order
            else 0.0
        )
        right = bool(order) and e.question.answerable and bool(e.labels[order[0]] > 0)
        if e.dataset != "gold":
            continue
        per_dataset.setdefault(source(e), []).append((conf, right, e.question.answerable))

    def utility(t: float) -> float:
        values = []
        for rows in per_dataset.values():
            good = sum((c >= t and r) or (c < t and not a) for c, r, a in rows)
            values.append(good / len(rows))
        return float(np.mean(values))

    def false_abstention(t: float) -> float:
        answerable = [c for rows in per_dataset.values() for c, _, a in rows if a]
        return sum(c < t for c in answerable) / max(len(answerable), 1)

    grid = [float(t) for t in np.round(np.arange(0.01, 0.951, 0.01), 2)]
    allowed = [t for t in grid if false_abstention(t) <= max_refused] or grid[:1]
    best = max(allowed, key=lambda t: (utility(t), -t))
    return float(best), {name: len(rows) for name, rows in per_dataset.items()}


def answer_at_1(examples: list[Example], model: ScoringModel) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for e in examples:
        if not e.question.answerable:
            continue
        scores = model.score(e.candidates.features)
        order = sorted(
            range(len(scores)), key=lambda i: (-float(scores[i]), int(e.candidates.rows[i]))
        )
        out.setdefault(e.dataset, []).append(float(bool(order) and e.labels[order[0]] > 0))
    return {k: round(float(np.mean(v)), 4) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-index", type=Path, default=Path("var/index"))
    parser.add_argument("--squad-index", type=Path, default=Path("var/bench/squad-index"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    encoder = SentenceTransformerEncoder()
    start = ScoringModel.load(args.out if args.out.exists() else WEIGHTS_PATH)
    seeds = Engine.open(args.seed_index, encoder, start)
    squad = Engine.open(args.squad_index, encoder, start)
    gold_dev = [q for q in load_gold() if q.split == "dev"]
    squad_dev = [q for q in load_squad() if q.split == "dev"]
    examples = collect(seeds, gold_dev, "gold") + collect(squad, squad_dev, "squad")
    print(f"dev questions: gold {len(gold_dev)}, squad {len(squad_dev)}")
    print("before:", answer_at_1(examples, start))

    w, _ = fit_ranker(examples)
    ranker = ScoringModel(
        version="",
        feature_weights={f: round(float(v), 4) for f, v in zip(FEATURES, w, strict=True)},
        intercept=0.0,
        calibration_weights={},
        calibration_intercept=0.0,
        abstain_below=0.5,
    )
    # Calibration and threshold also see unanswerable questions: the gold set's and masked ones.
    examples = examples + masked_gold(squad, [e for e in examples if e.dataset == "squad"])
    x, y, sw = top_outcomes(examples, ranker)
    cw, cb = fit_logistic(x, y, sw)
    calibrated = ScoringModel(
        version="",
        feature_weights=ranker.feature_weights,
        intercept=0.0,
        calibration_weights={
            k: round(float(v), 4) for k, v in zip(CALIBRATION_FEATURES, cw, strict=True)
        },
        calibration_intercept=round(cb, 4),
        abstain_below=0.5,
    )
    threshold, counts = choose_threshold(examples, calibrated, max_false_abstention())
    body = {**calibrated.__dict__, "abstain_below": threshold, "version": ""}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    after = answer_at_1(examples, calibrated)
    final = ScoringModel(
        **{
            **body,
            "version": f"fit-{digest}",
            "fitted_on": f"dev only (threshold on {counts}); dev answer@1 {after}",
        },
    )
    final.save(args.out)
    print("after:", after, "threshold", threshold)
    print(json.dumps(final.__dict__, indent=2))


if __name__ == "__main__":
    main()
