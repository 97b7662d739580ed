"""Training and tuning examples for the answer model, built with the real retriever.

Every question is asked of an index over its whole corpus exactly as serving asks it (hybrid
retrieval, the pre-ranker), and the head of the pre-ranked shortlist becomes its candidates, so the
model learns from what it will see. A candidate is labelled:

- positive: it lies in the question's gold paragraph and contains a gold answer (SQuAD
  normalisation), with the answer's character span inside it for the highlight head;
- negative: every other candidate, and every candidate of an unanswerable question;
- left out (``label`` None): it contains a gold answer but lies outside the gold paragraph, so it
  may or may not answer (the same words in another context).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.datasets import Question
from eval.normalize import contains_answer

POOL = 16  # candidates kept per question: the shortlist N is chosen later, on dev, below this


@dataclass(frozen=True)
class Example:
    row: int
    doc_id: str
    sentence: str
    context: str
    label: int | None
    span: tuple[int, int] | None  # gold answer inside ``sentence`` (positives only)
    prerank: float = 0.0  # the pre-ranker's score (a logit), which serving adds to the reader's


@dataclass(frozen=True)
class QuestionExamples:
    id: str
    source: str
    split: str
    question: str
    answers: tuple[str, ...]
    candidates: tuple[Example, ...]  # pre-ranker order, best first

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def answer_span(sentence: str, answers: Iterable[str]) -> tuple[int, int] | None:
    """Where a gold answer occurs in the sentence (exact, then case-insensitive), longest first."""
    for answer in sorted({a.strip() for a in answers if a.strip()}, key=len, reverse=True):
        at = sentence.find(answer)
        if at < 0:
            at = sentence.lower().find(answer.lower())
        if at >= 0:
            return at, at + len(answer)
    return None


def _in_gold(question: Question, doc_id: str, sentence: str, doc_stems: dict[str, str]) -> bool:
    if question.passage:
        return " ".join(sentence.split()) in " ".join(question.passage.split())
    return doc_stems.get(doc_id, doc_id) in question.docs or doc_id in question.docs


def label_candidate(
    question: Question, doc_id: str, sentence: str, doc_stems: dict[str, str]
) -> tuple[int | None, tuple[int, int] | None]:
    if not question.answers or not contains_answer(sentence, question.answers):
        return 0, None
    if not _in_gold(question, doc_id, sentence, doc_stems):
        return None, None
    return 1, answer_span(sentence, question.answers)


def doc_stems(corpus: Any) -> dict[str, str]:
    """Document id -> file stem (gold sets name supporting documents by file stem)."""
    return {d.doc_id: Path(d.source_path).stem for d in corpus.snapshot.content.documents}


def candidate_labels(
    engine: Any, question: Question, stems: dict[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """One question's candidates (``engine.candidates``): their feature matrix and labels, 1, 0
    or -1 (left out), in candidate order."""
    sentences = engine.corpus.snapshot.content.sentences
    cands = engine.candidates(question.question)
    labels = []
    for row in cands.rows:
        s = sentences[int(row)]
        label, _ = label_candidate(question, s.doc_id, s.text, stems)
        labels.append(-1 if label is None else label)
    return cands.features, np.array(labels, dtype=np.int64)


def build_examples(
    engine: Any, questions: Iterable[Question], source: str, pool: int = POOL
) -> Iterator[QuestionExamples]:
    """Ask every question of ``engine`` (a ``retriever.engine.Engine``) and label its shortlist."""
    corpus = engine.corpus
    sentences = corpus.snapshot.content.sentences
    stems = doc_stems(corpus)
    for question in questions:
        listed = engine.shortlist(question.question)
        examples = []
        for i in listed.order[:pool]:
            row = int(listed.candidates.rows[i])
            sentence = sentences[row]
            label, span = label_candidate(question, sentence.doc_id, sentence.text, stems)
            examples.append(
                Example(
                    row, sentence.doc_id, sentence.text, corpus.context_of(row), label, span,
                    round(float(listed.scores[i]), 6),
                )
            )
        yield QuestionExamples(
            question.id, source, question.split, question.question, question.answers,
            tuple(examples),
        )


def write_examples(path: Path, items: Iterable[QuestionExamples]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_examples(path: Path) -> list[QuestionExamples]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        cands = tuple(
            Example(
                c["row"], c["doc_id"], c["sentence"], c["context"], c["label"],
                tuple(c["span"]) if c["span"] else None, float(c.get("prerank", 0.0)),
            )
            for c in row["candidates"]
        )
        out.append(
            QuestionExamples(
                row["id"], row["source"], row["split"], row["question"], tuple(row["answers"]),
                cands,
            )
        )
    return out
