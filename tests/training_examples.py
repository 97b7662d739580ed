"""Small training questions for the answer model's training tests: each candidate labelled 1
(answers), 0 (does not) or None (left out)."""

from __future__ import annotations

from pathlib import Path

from eval.train_answer.data import Example, QuestionExamples


def example(row: int, label: int | None) -> Example:
    return Example(row=row, doc_id="d", sentence=f"Sentence {row} in 1901 by Ada Lovelace.",
                   context="Title", label=label, span=(0, 8) if label == 1 else None)


def question(qid: str, labels: list[int | None]) -> QuestionExamples:
    return QuestionExamples(id=qid, source="t", split="train", question=f"Who wrote {qid}?",
                            answers=("x",) if 1 in labels else (),
                            candidates=tuple(example(i, y) for i, y in enumerate(labels)))


def write_tiny_training_data(data: Path) -> Path:
    """Three answerable questions and one unanswerable one, as the training files, in ``data``."""
    from eval.train_answer.data import write_examples
    from eval.train_answer.train import TRAIN_FILES

    data.mkdir(parents=True, exist_ok=True)
    write_examples(data / f"{TRAIN_FILES[0]}.jsonl",
                   [question(f"q{i}", [0, 1, 0, 0]) for i in range(3)])
    write_examples(data / f"{TRAIN_FILES[1]}.jsonl", [question("u", [0, 0, 0, 0])])
    return data
