"""The answer verifier: a second cross-encoder that decides whether the question is answered at
all, given the best candidate in its surroundings (title, previous sentence, the sentence, the
sentence after).

    python -m eval.train_answer.verifier --data var/answer-data [--run var/answer-train/verifier]

The reader ranks sentences and reads one sentence at a time; SQuAD 2.0's unanswerable questions
were written against a paragraph to look answerable from it, and the reader's score tells them
apart poorly. The verifier is trained for that decision alone: each training article's answerable
question beside its answering sentence (label 1), and each unanswerable question beside its best
pre-ranked candidates (label 0). Serving reads it once per question, on the best candidate, and a
logistic model over the reader's combined score and the verifier's logit, fitted on dev, gives the
confidence that abstention thresholds.

The command adds the verifier to the model directory's description (``--out``, the shipped one by
default), as the recipe writes the reader: run ``citeqa eval --dataset gold --gate`` before
committing what it wrote. No verifier ships yet (eval/results/answer-model.md says why).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from eval.train_answer import card, export, tune
from eval.train_answer.data import Example, QuestionExamples, read_examples
from eval.train_answer.train import Pair, TrainConfig, base_model_dir, encode_pair, fit
from retriever import DESCRIPTION, MODEL_DIR, Answerability, AnswerModel, Candidate, file_sha256

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
            read = Candidate(c.sentence, c.context, following(item.source, c.row)).surroundings()
            pairs.append(Pair(item.question, read.sentence, read.context, label, None))
    return pairs


def corpus_following(index_dirs: dict[str, Path]) -> Callable[[str, int], str]:
    """``following`` over the indexes the examples were drawn from (source → index)."""
    from index.store import load_snapshot
    from retriever import Corpus

    corpora: dict[str, Corpus] = {}

    def following(source: str, row: int) -> str:
        if source not in corpora:
            corpora[source] = Corpus.from_snapshot(load_snapshot(index_dirs[source]))
        return corpora[source].following_of(row)

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
            out[name].append(verify(r.item.question, Candidate(
                c.sentence, c.context, following(r.item.source, c.row))))
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


def tune_and_ship(run: Path, data_dir: Path, out: Path = MODEL_DIR) -> dict[str, Any]:
    """Export the trained verifier, read the dev questions with the shipped reader and each
    export, fit the answerability model and threshold on dev, choose int8 when it stays within
    the recipe's tolerance of fp32, and add the verifier to ``out``'s description."""
    from eval.train_answer.recipe import FALSE_ABSTENTION_BARS, INT8_TOLERANCE, dev_items

    reader = AnswerModel(out, threads=CONFIG.threads)
    info = reader.info
    n, weight = info.candidates, info.prerank_weight
    items = dev_items(data_dir)
    readings = {name: tune.read_all(reader.score, its, n) for name, its in items.items()}
    outcomes = {name: tune.outcomes(r, n, weight) for name, r in readings.items()}
    files = export.export(run, run / "onnx", CONFIG.layers)
    following = corpus_following(index_dirs())
    choices: dict[str, dict[str, Any]] = {}
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
        choices[kind] = {
            "answerability": fitted, "threshold": threshold,
            "dev": {name: tune.summarize(rows, threshold) for name, rows in scored.items()},
            "pooled": tune.summarize([o for rows in scored.values() for o in rows], threshold),
        }
    gap = max(abs(choices["fp32"]["pooled"][m] - choices["int8"]["pooled"][m])
              for m in ("answer_at_1", "overall_correct"))
    kind = "int8" if gap <= INT8_TOLERANCE else "fp32"
    chosen = choices[kind]
    shutil.copy(files[kind], out / VERIFIER_FILE)
    description = json.loads((out / DESCRIPTION).read_text())
    reader_sha = description["sha256"]
    verifier_sha = file_sha256(out / VERIFIER_FILE)
    model: Answerability = chosen["answerability"]
    threshold = chosen["threshold"]
    description["name"] = f"citeqa-reader-{reader_sha[:8]}-verifier-{verifier_sha[:8]}"
    description["verifier"] = {
        "file": VERIFIER_FILE, "sha256": verifier_sha, "max_length": CONFIG.max_length,
        "precision": kind, "size_bytes": (out / VERIFIER_FILE).stat().st_size,
        "answerability": asdict(model),
    }
    description["abstain_below"] = (
        round(float(1.0 / (1.0 + np.exp(-threshold))), 4) if np.isfinite(threshold) else 0.0
    )
    (out / DESCRIPTION).write_text(json.dumps(description, indent=2) + "\n")
    without = tune.choose_threshold({k: outcomes[k] for k in FALSE_ABSTENTION_BARS},
                                    FALSE_ABSTENTION_BARS)
    notes = {
        "train": json.loads((run / "train.json").read_text()),
        "precision": kind,
        "int8_pooled_gap": gap,
        "dev_without_verifier": {name: tune.summarize(rows, without)
                                 for name, rows in outcomes.items()},
        "dev": chosen["dev"],
        "dev_fp32": choices["fp32"]["dev"],
        "dev_int8": choices["int8"]["dev"],
    }
    notes["train"].pop("log", None)
    (out / "verifier.json").write_text(json.dumps(notes, indent=2) + "\n")
    card_path = out / "MODEL_CARD.md"
    text = card_path.read_text()
    text = text.split(card.VERIFIER_HEADING)[0].rstrip() + "\n\n"
    card_path.write_text(text + card.render_verifier(description, notes))
    return notes


VERIFIER_FILE = "verifier-int8.onnx"


def _plain_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = CONFIG.threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _verify(reader: AnswerModel, session: Any, question: str, candidate: Candidate) -> float:
    from retriever import encode_pairs

    batch = encode_pairs(reader.tokenizer, question, [candidate.surroundings()],
                         CONFIG.max_length)
    return float(session.run(["answer_logit"], {
        "input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
        "token_type_ids": batch.token_type_ids})[0][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("var/answer-data"))
    parser.add_argument("--run", type=Path, default=Path("var/answer-train/verifier"))
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--skip-train", action="store_true", help="reuse --run's weights")
    args = parser.parse_args(argv)
    if not args.skip_train:
        summary = train(args.data, args.run)
        print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=2))
    notes = tune_and_ship(args.run, args.data, args.out)
    print(json.dumps({k: notes[k] for k in ("precision", "dev_without_verifier", "dev")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
