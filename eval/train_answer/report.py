"""Render ``eval/results/answer-model.md``: the alternatives tried (dev) and the shipped answer
model's end-to-end figures (test, dev beside it), from the JSON the other tools write.

    python -m eval.train_answer.report [--out eval/results/answer-model.md]

Inputs: ``retriever/models/answer/training.json`` (the recipe's dev readings and choices),
``eval/results/answer-alternatives.json`` (the non-neural baselines on dev) and the
``summary.json`` of ``citeqa eval`` runs in ``eval/results/{squad2,squad,gold}``. Missing inputs
are named in the report, never guessed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from retriever import MODEL_DIR

from ..markdown_table import markdown_table

RESULTS = Path("eval/results")
DATASETS = {"squad2": "SQuAD 2.0", "squad": "SQuAD v1.1 sample", "gold": "seed gold set"}
END_TO_END = (
    ("answer_at_1", "answer@1 (answerable)"),
    ("accuracy", "overall correct"),
    ("abstention_recall", "abstention recall (unanswerable)"),
    ("false_abstention_rate", "false abstention (answerable)"),
    ("span_f1", "highlight span F1"),
    ("span_em", "highlight span EM"),
    ("median_quote_chars", "median quote length (chars)"),
    ("conflict_false_alarm_rate", "answers with a false conflict"),
    ("conflict_recall", "conflict recall (conflict questions)"),
    ("ece", "calibration ECE"),
    ("citation_validity", "citation validity"),
)
OFFLINE = (
    ("selection_at_1", "selection@1"),
    ("answer_at_1", "answer@1"),
    ("false_abstention", "false abstention"),
    ("abstention_recall", "abstention recall"),
    ("overall_correct", "overall correct"),
)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def alternatives_table(training: dict[str, Any] | None, baselines: dict[str, Any] | None) -> str:
    """SQuAD 2.0 dev: every answer stage tried, each with its threshold chosen on dev."""
    rows: list[list[str]] = []
    for key, label in (("linear", "linear pre-ranker alone"), ("gbdt", "gradient-boosted ranker")):
        if baselines and key in baselines:
            b = baselines[key]
            figures = {"selection_at_1": b["selection_at_1"], **b["abstention"]}
            rows.append([label, *(_fmt(figures.get(k)) for k, _ in OFFLINE)])
    if training:
        for key, label in (("reader_alone", "answer model alone (reader logit)"),
                           ("dev_fp32", "answer model + pre-ranker, fp32"),
                           ("dev_int8", "answer model + pre-ranker, int8")):
            read: dict[str, Any] = (training.get(key) or {}).get("squad2") or {}
            if read:
                rows.append([label, *(_fmt(read.get(k)) for k, _ in OFFLINE)])
    header = ["answer stage (SQuAD 2.0 dev)", *(n for _, n in OFFLINE)]
    return "\n".join(markdown_table(header, rows))


def end_to_end_table(summaries: dict[str, dict[str, Any] | None]) -> str:
    header = ["figure", *(f"{DATASETS[name]} {split}" for name in summaries
                          for split in ("test", "dev"))]
    rows: list[list[str]] = []
    for key, label in END_TO_END:
        cells = []
        for summary in summaries.values():
            per_split = ((summary or {}).get("per_split") or {}).get("hybrid") or {}
            for split in ("test", "dev"):
                cells.append(_fmt((per_split.get(split) or {}).get(key)))
        rows.append([label, *cells])
    counts = []
    for summary in summaries.values():
        per_split = ((summary or {}).get("per_split") or {}).get("hybrid") or {}
        for split in ("test", "dev"):
            counts.append(_fmt((per_split.get(split) or {}).get("questions")))
    rows.append(["questions", *counts])
    return "\n".join(markdown_table(header, rows))


def render(model_dir: Path, results: Path) -> str:
    description = _read(model_dir / "answer_model.json") or {}
    training = _read(model_dir / "training.json")
    baselines = _read(results / "answer-alternatives.json")
    summaries = {name: _read(results / name / "summary.json") for name in DATASETS}
    missing = [str(results / n / "summary.json") for n, s in summaries.items() if s is None]
    lines = [
        "# The answer model: alternatives (dev) and end-to-end figures (test)",
        "",
        f"Shipped: `{description.get('name', '?')}` ({description.get('precision', '?')}, "
        f"N = {description.get('candidates', '?')}, pre-ranker weight "
        f"{description.get('prerank_weight', '?')}, abstains below "
        f"{description.get('abstain_below', '?')}); its card is "
        "`retriever/models/answer/MODEL_CARD.md`.",
        "",
        "## Alternatives tried, SQuAD 2.0 dev articles",
        "",
        "Offline, over the same pre-ranked shortlists the engine reads; each row's abstention "
        "threshold is chosen on dev (false abstention at most 0.10), so these are dev figures "
        "used for choosing, not results.",
        "",
        alternatives_table(training, baselines),
        "",
        "## End to end, `citeqa eval` (hybrid), test split first",
        "",
        "Test articles were never read by any fitting or choice. SQuAD 2.0 asks its own index of "
        "the 35-article corpus; the v1.1 sample its 48-article corpus; the gold set the seeds.",
        "",
        end_to_end_table(summaries),
    ]
    if missing:
        lines += ["", "Not measured in this run: " + ", ".join(missing)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "answer-model.md")
    args = parser.parse_args(argv)
    text = render(MODEL_DIR, RESULTS)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
