"""Fine-tune the answer model with transformers' Trainer on the examples from ``build_data``.

    python -m eval.train_answer.train --data var/answer-data --out var/answer-train/run

Training pairs come from train-split questions only: each answerable question's positive
candidates plus its hardest negatives (the best pre-ranked candidates that do not answer), each
unanswerable question's best pre-ranked candidates as negatives, all within the shortlist the
model reads when serving.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval.train_answer.augment import swap_pool, swapped_question
from eval.train_answer.data import QuestionExamples, read_examples

TRAIN_FILES = ("squad-train", "squad2")
PRECISIONS = ("auto", "bf16", "fp32")  # TrainConfig.precision
LOSSES = ("pointwise", "listwise")  # TrainConfig.loss


@dataclass(frozen=True)
class TrainConfig:
    layers: int = 6
    max_length: int = 96
    shortlist: int = 12  # negatives are drawn from this head of the pre-ranked candidates
    negatives: int = 3  # per answerable question
    unanswerable_negatives: int = 4  # per unanswerable question
    # per answerable question: its answering sentence beside the question with a name or number
    # swapped (augment.py), a negative that looks like an answer
    swap_negatives: int = 0
    # "pointwise": each pair on its own (binary cross-entropy); "listwise": each question's pairs
    # together, a softmax over them and a null choice (model.listwise_loss)
    loss: str = "pointwise"
    # listwise only: per answerable question, its group again without its answering candidates
    # (the best unanswerable-looking shortlist there is), whose right choice is "none"
    answerless_copies: int = 0
    # after one pass the reader chose worse than the linear pre-ranker on its own; a second pass
    # chose, highlighted and abstained better on dev (eval/results/answer-model.md)
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 6e-5
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    span_weight: float = 0.5
    # > 0: an answerability head beside the answer logit (model.py), trained on each answering
    # candidate (yes) and each unanswerable question's candidates (no), its loss at this weight
    answerability_weight: float = 0.0
    seed: int = 13
    threads: int = 2
    # "bf16": mixed precision (autocast), "fp32": none, "auto": bf16 where the hardware computes
    # it natively (a CUDA device that supports it, or a CPU with AVX512-BF16), else fp32.
    # bf16 trains faster on such hardware with dev figures like fp32's
    # (eval/results/answer-model.md); the weights and the exported model are fp32 either way.
    precision: str = "auto"


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    context: str
    label: int
    span: tuple[int, int] | None
    # the answerability head's label: 1 an answering sentence, 0 a candidate for a question the
    # collection does not answer, None neither (another sentence of an answerable question)
    answerable: int | None = None


def training_pairs(items: list[QuestionExamples], config: TrainConfig) -> list[Pair]:
    return [pair for group in training_groups(items, config) for pair in group]


def training_groups(items: list[QuestionExamples], config: TrainConfig) -> list[list[Pair]]:
    """Each question's training pairs (a swapped question's pair is a question of its own)."""
    rng = random.Random(config.seed)
    groups: list[list[Pair]] = []
    for item in items:
        pairs: list[Pair] = []
        groups.append(pairs)
        head = [c for c in item.candidates[: config.shortlist] if c.label is not None]
        positives = [c for c in head if c.label == 1]
        negatives = [c for c in head if c.label == 0]
        keep = config.negatives if item.answerable else config.unanswerable_negatives
        for c in positives + negatives[:keep]:
            label = int(c.label or 0)
            answerable = label if (label == 1 or not item.answerable) else None
            pairs.append(Pair(item.question, c.sentence, c.context, label, c.span, answerable))
        if positives and config.loss == "listwise":
            # the next best candidates stand in for the answer that is taken away
            answerless = [Pair(item.question, c.sentence, c.context, 0, None)
                          for c in negatives[: keep + len(positives)]]
            groups.extend([answerless] * config.answerless_copies)
        for c in positives[: config.swap_negatives]:
            others = swap_pool([x.sentence for x in item.candidates], c.sentence)
            changed = swapped_question(item.question, c.sentence, c.context, others, rng)
            if changed is not None:
                groups.append([Pair(changed, c.sentence, c.context, 0, None)])
    return [group for group in groups if group]


def token_span(offsets: list[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int] | None:
    """Sentence-token indices (first, last) covering the character span."""
    start, end = span
    first = next((i for i, (a, b) in enumerate(offsets) if b > start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def encode_pair(tokenizer: Any, pair: Pair, max_length: int) -> dict[str, Any]:
    from retriever import Candidate, encode_pairs

    from .model import IGNORE

    batch = encode_pairs(tokenizer, pair.question, [Candidate(pair.sentence, pair.context)],
                         max_length)
    start = end = IGNORE
    if pair.label == 1 and pair.span is not None:
        found = token_span(batch.sentence_offsets[0], pair.span)
        if found is not None:
            first = int(batch.sentence_first[0])
            start, end = first + found[0], first + found[1]
    return {
        "input_ids": batch.input_ids[0].tolist(),
        "attention_mask": batch.attention_mask[0].tolist(),
        "token_type_ids": batch.token_type_ids[0].tolist(),
        "labels": pair.label,
        "start_positions": start,
        "end_positions": end,
        "answerable_labels": IGNORE if pair.answerable is None else pair.answerable,
    }


def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    if rows and "pairs" in rows[0]:  # listwise: rows are questions, each a list of pairs
        batch = collate([pair for row in rows for pair in row["pairs"]])
        batch["groups"] = torch.tensor([g for g, row in enumerate(rows) for _ in row["pairs"]])
        return batch
    width = max(len(r["input_ids"]) for r in rows)
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        out[key] = torch.tensor([r[key] + [0] * (width - len(r[key])) for r in rows])
    for key in ("labels", "start_positions", "end_positions", "answerable_labels"):
        if key in rows[0]:
            out[key] = torch.tensor([r[key] for r in rows])
    return out


def base_model_dir() -> Path:
    from index.embed import DEFAULT_MODEL, resolve_model_path

    return resolve_model_path(DEFAULT_MODEL)


def resolve_precision(precision: str) -> str:
    """``precision`` as training will run it: "bf16" or "fp32" ("auto" decided here)."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return "bf16" if native else "fp32"


def train(data_dir: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import set_seed

    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    items = [
        item
        for name in TRAIN_FILES
        for item in read_examples(data_dir / f"{name}.jsonl")
        if item.split == "train"
    ]
    if config.loss not in LOSSES:
        raise ValueError(f"unknown loss {config.loss!r} (one of {', '.join(LOSSES)})")
    resolve_precision(config.precision)  # refused before the data is encoded, not after
    groups = training_groups(items, config)
    pairs = [pair for group in groups for pair in group]
    base = base_model_dir()
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    rows: list[dict[str, Any]]
    if config.loss == "listwise":
        random.Random(config.seed).shuffle(groups)
        rows = [{"pairs": [encode_pair(tokenizer, p, config.max_length) for p in group]}
                for group in groups]
        # About batch_size pairs a step, as pointwise: whole questions of the average size.
        per_step = max(1, round(config.batch_size * len(groups) / max(1, len(pairs))))
    else:
        random.Random(config.seed).shuffle(pairs)
        rows = [encode_pair(tokenizer, p, config.max_length) for p in pairs]
        per_step = config.batch_size
    return fit(rows, per_step, out, config, {
        "questions": len(items),
        "pairs": len(pairs),
        "groups": len(groups),
        "positives": sum(p.label for p in pairs),
    })


def fit(
    rows: list[dict[str, Any]], per_step: int, out: Path, config: TrainConfig,
    counts: dict[str, int],
) -> dict[str, Any]:
    """Fine-tune an AnswerReader from the bundled weights on encoded ``rows`` with transformers'
    Trainer; ``out/model.safetensors`` gets the weights and ``out/train.json`` the summary
    (the configuration, ``counts`` of the data, time, loss and the Trainer's log), returned."""
    import torch
    from safetensors.torch import save_file
    from transformers import Trainer, TrainingArguments

    from .model import AnswerReader

    model = AnswerReader(base_model_dir(), config.layers, config.span_weight,
                         config.answerability_weight)
    precision = resolve_precision(config.precision)
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=per_step,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        warmup_steps=int(config.warmup_ratio * config.epochs * len(rows) / per_step),
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        logging_steps=20,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        bf16=precision == "bf16",
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    summary = {
        "config": asdict(config),
        **counts,
        "train_seconds": round(seconds, 1),
        "train_loss": round(float(result.training_loss), 4),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "log": list(trainer.state.log_history),
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("var/answer-data"))
    parser.add_argument("--out", type=Path, default=Path("var/answer-train/run"))
    for name, default in asdict(TrainConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args(argv)
    fields = {k: getattr(args, k) for k in asdict(TrainConfig())}
    summary = train(args.data, args.out, TrainConfig(**fields))
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
