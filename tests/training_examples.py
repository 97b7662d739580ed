"""Small training questions for the answer model's training tests: each candidate labelled 1
(answers), 0 (does not) or None (left out)."""

from __future__ import annotations

from eval.train_answer.data import Example, QuestionExamples


def example(row: int, label: int | None) -> Example:
    return Example(row=row, doc_id="d", sentence=f"Sentence {row} in 1901 by Ada Lovelace.",
                   context="Title", label=label, span=(0, 8) if label == 1 else None)


def question(qid: str, labels: list[int | None]) -> QuestionExamples:
    return QuestionExamples(id=qid, source="t", split="train", question=f"Who wrote {qid}?",
                            answers=("x",) if 1 in labels else (),
                            candidates=tuple(example(i, y) for i, y in enumerate(labels)))
