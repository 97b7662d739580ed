"""A study: an answer verifier, a second cross-encoder that decides whether the question is
answered at all, given the best candidate in its surroundings (title, previous sentence, the
sentence, the sentence after).

    python -m eval.train_answer.verifier --data var/answer-data [--run var/answer-train/verifier]

The reader ranks sentences and reads one sentence at a time; SQuAD 2.0's unanswerable questions
were written against a paragraph to look answerable from it, and the reader's score tells them
apart poorly. The verifier is trained for that decision alone: each training article's answerable
question beside its answering sentence (label 1), and each unanswerable question beside its best
pre-ranked candidates (label 0). It would be read once per question, on the best candidate, with a
logistic model over the reader's combined score and the verifier's logit, fitted on dev, as the
confidence that abstention thresholds.

This module trains it, exports it and writes its dev figures beside the shipped reader's to
``--run``/verifier-dev.json. Serving has no verifier: it would be a second model call on the
query path, and none passed the gold gate (eval/results/answer-model.md; the end-to-end figures
there were measured with the serving support of commit 0229125, removed since).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eval.train_answer import export, tune
from eval.train_answer.data import Example, QuestionExamples, read_examples
from eval.train_answer.train import Pair, TrainConfig, base_model_dir, encode_pair, fit
from retriever import MODEL_DIR, AnswerModel, Candidate

TRAIN_FILE = "squad2"  # the only training set with unanswerable questions
CONFIG = TrainConfig(
    max_length=160,  # the sentence after and the context need room beside the question
    shortlist=8,
    unanswerable_negatives=2,
    # per answerable question, a candidate from another document as a "no": tried at 1, worse
    # on every dev set (eval/results/answer-model.md)
    answerless_copies=0,
    epochs=2.0,
    batch_size=16,
    learning_rate=4e-5,
    warmup_ratio=0.1,
    span_weight=0.0,  # no highlight: the reader marks it
)


def verifier_pairs(
    items: Sequence[QuestionExamples], following: Callable[[str, int], str], config: TrainConfig
) -> list[Pair]:
    """Training pairs: an answerable question with its first answering candidate in the
    shortlist (none: left out) and, as if the collection lacked the answer's document, with the
    best candidate from another document (label 0: a question about something the collection
    does not cover); an unanswerable one with its best ``unanswerable_negatives`` candidates.
    ``following(source, row)`` is the sentence after a candidate."""
    pairs = []
    for item in items:
        head = item.candidates[: config.shortlist]
        chosen: list[tuple[Example, int]] = []
        if item.answerable:
            answering = [c for c in head if c.label == 1][:1]
            chosen = [(c, 1) for c in answering]
            gold_docs = {c.doc_id for c in item.candidates if c.label == 1}
            elsewhere = [c for c in head if c.label == 0 and c.doc_id not in gold_docs]
            if answering and gold_docs:
                chosen += [(c, 0) for c in elsewhere[: config.answerless_copies]]
        else:
            chosen = [(c, 0) for c in head[: config.unanswerable_negatives]]
        for c, label in chosen:
            read = with_following(c.sentence, following(item.source, c.row))
            pairs.append(Pair(item.question, read, c.context, label, None))
    return pairs


def with_following(sentence: str, following: str) -> str:
    """What the verifier reads in place of the sentence alone: it and the sentence after."""
    return f"{sentence} {following}".strip()


@dataclass(frozen=True)
class Answerability:
    """Confidence that the best candidate answers, from the reader's combined score and the
    verifier's logit: sigmoid(a * combined + v * verified + b)."""

    a: float
    v: float
    b: float


def corpus_following(index_dirs: dict[str, Path]) -> Callable[[str, int], str]:
    """``following`` over the indexes the examples were drawn from (source → index)."""
    from index.store import load_snapshot
    from retriever import Corpus

    corpora: dict[str, Corpus] = {}

    def following(source: str, row: int) -> str:
        if source not in corpora:
            corpora[source] = Corpus.from_snapshot(load_snapshot(index_dirs[source]))
        corpus = corpora[source]
        return corpus.sentence_text(row + 1) if corpus.same_document(row, row + 1) else ""

    return following


def train(data_dir: Path, out: Path, config: TrainConfig = CONFIG) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import set_seed

    from eval.train_answer.build_data import INDEXES

    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    items = [i for i in read_examples(data_dir / f"{TRAIN_FILE}.jsonl") if i.split == "train"]
    pairs = verifier_pairs(items, corpus_following(INDEXES), config)
    random.Random(config.seed).shuffle(pairs)
    tokenizer = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    rows = [encode_pair(tokenizer, p, config.max_length) for p in pairs]
    return fit(rows, config.batch_size, out, config, {
        "questions": len(items),
        "pairs": len(pairs),
        "positives": sum(p.label for p in pairs),
    })


def index_dirs() -> dict[str, Path]:
    """Each example source's index (the gold set's is the configured seed index)."""
    from eval.train_answer.build_data import INDEXES
    from service.settings import Settings

    return {**INDEXES, "gold": Settings().index_dir}


def verified(
    verify: Callable[[str, Candidate], float],
    readings: dict[str, list[tune.Reading]],
    n: int,
    weight: float,
    following: Callable[[str, int], str],
) -> dict[str, list[float]]:
    """The verifier's logit on each dev question's best candidate (NaN without one)."""
    out: dict[str, list[float]] = {}
    for name, rows in readings.items():
        out[name] = []
        for r in rows:
            best = r.best(n, weight)
            if best is None:
                out[name].append(float("nan"))
                continue
            c = r.item.candidates[best]
            read = with_following(c.sentence, following(r.item.source, c.row))
            out[name].append(verify(r.item.question, Candidate(read, c.context)))
    return out


def answerability_outcomes(
    outcomes: list[tune.Outcome], logits: list[float], model: Answerability
) -> list[tune.Outcome]:
    """The outcomes with ``logit`` replaced by the answerability model's linear score (the
    thresholds are chosen on it; the confidence is its sigmoid)."""
    return [
        replace(o, logit=(model.a * o.logit + model.v * v + model.b)
                if np.isfinite(o.logit) and np.isfinite(v) else -math.inf)
        for o, v in zip(outcomes, logits, strict=True)
    ]


def fit_answerability(outcomes: list[tune.Outcome], logits: list[float]) -> Answerability:
    """P(the best candidate answers correctly | its combined score, the verifier's logit), by
    logistic regression over every dev question pooled (as Platt scaling is fitted)."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[o.logit, v] for o, v in zip(outcomes, logits, strict=True)])
    y = np.array([o.correct_if_answered for o in outcomes], dtype=int)
    finite = np.isfinite(x).all(axis=1)
    model = LogisticRegression(C=10.0).fit(x[finite], y[finite])
    return Answerability(float(model.coef_[0, 0]), float(model.coef_[0, 1]),
                         float(model.intercept_[0]))


def study(run: Path, data_dir: Path, model_dir: Path = MODEL_DIR) -> dict[str, Any]:
    """Export the trained verifier, read the dev questions with the shipped reader and each
    export, fit the answerability model and threshold on dev by the recipe's rule, and report the
    dev figures without and with it (``run/verifier-dev.json``)."""
    from eval.train_answer.recipe import FALSE_ABSTENTION_BARS, dev_items

    reader = AnswerModel(model_dir, threads=CONFIG.threads)
    info = reader.info
    n, weight = info.candidates, info.prerank_weight
    items = dev_items(data_dir)
    readings = {name: tune.read_all(reader.score, its, n) for name, its in items.items()}
    outcomes = {name: tune.outcomes(r, n, weight) for name, r in readings.items()}
    files = export.export(run, run / "onnx", CONFIG.layers)
    following = corpus_following(index_dirs())
    without = tune.choose_threshold({k: outcomes[k] for k in FALSE_ABSTENTION_BARS},
                                    FALSE_ABSTENTION_BARS)
    notes: dict[str, Any] = {
        "train": {k: v for k, v in json.loads((run / "train.json").read_text()).items()
                  if k != "log"},
        "reader": info.name,
        "dev_without_verifier": {name: tune.summarize(rows, without)
                                 for name, rows in outcomes.items()},
    }
    for kind, path in files.items():
        session = _plain_session(path)

        def verify(question: str, candidate: Candidate, session: Any = session) -> float:
            return _verify(reader, session, question, candidate)

        logits = verified(verify, readings, n, weight, following)
        pooled = [o for name in outcomes for o in outcomes[name]]
        fitted = fit_answerability(pooled, [v for name in outcomes for v in logits[name]])
        scored = {name: answerability_outcomes(outcomes[name], logits[name], fitted)
                  for name in outcomes}
        threshold = tune.choose_threshold({k: scored[k] for k in FALSE_ABSTENTION_BARS},
                                          FALSE_ABSTENTION_BARS)
        notes[f"dev_{kind}"] = {name: tune.summarize(rows, threshold)
                                for name, rows in scored.items()}
        notes[f"answerability_{kind}"] = asdict(fitted)
        barred = {k: outcomes[k] for k in FALSE_ABSTENTION_BARS}
        rule = tune.choose_either(barred, {k: logits[k] for k in barred}, FALSE_ABSTENTION_BARS)
        notes[f"dev_either_{kind}"] = {
            name: tune.summarize(tune.either_outcomes(rows, logits[name], rule), 0.0)
            for name, rows in outcomes.items()
        }
        notes[f"either_{kind}"] = asdict(rule)
        notes[f"logits_{kind}"] = logits
    (run / "verifier-dev.json").write_text(json.dumps(notes, indent=2) + "\n")
    return notes


def _plain_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = CONFIG.threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _verify(reader: AnswerModel, session: Any, question: str, candidate: Candidate) -> float:
    from retriever import encode_pairs

    batch = encode_pairs(reader.tokenizer, question, [candidate],
                         CONFIG.max_length)
    return float(session.run(["answer_logit"], {
        "input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
        "token_type_ids": batch.token_type_ids})[0][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("var/answer-data"))
    parser.add_argument("--run", type=Path, default=Path("var/answer-train/verifier"))
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="the reader beside it")
    parser.add_argument("--skip-train", action="store_true", help="reuse --run's weights")
    args = parser.parse_args(argv)
    if not args.skip_train:
        summary = train(args.data, args.run)
        print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=2))
    notes = study(args.run, args.data, args.model)
    print(json.dumps({k: v for k, v in notes.items() if k != "train"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
