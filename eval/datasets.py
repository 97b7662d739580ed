"""Question sets: the seed gold set and the external benchmarks in ../shared/bench."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLD_PATH = REPO / "eval" / "gold.jsonl"
BENCH_DIR = REPO.parent / "shared" / "bench"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the collection does not hold the answer
    docs: tuple[str, ...]  # supporting doc ids
    kind: str
    split: str  # "dev" (tuning) or "test" (reporting)
    passage: str = ""  # SQuAD: the gold paragraph
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_gold(path: Path = GOLD_PATH) -> list[Question]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(
                Question(
                    id=row["id"],
                    question=row["question"],
                    answers=tuple(row["answers"]),
                    docs=tuple(row["docs"]),
                    kind=row["kind"],
                    split=row["split"],
                )
            )
    return out


def squad_split(question_id: str) -> str:
    """A fixed half/half split of the SQuAD sample by id hash: fit on dev, report test."""
    return "dev" if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else "test"


def load_squad(bench_dir: Path = BENCH_DIR) -> list[Question]:
    path = bench_dir / "squad-v1.1-dev" / "questions.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append(
            Question(
                id=row["id"],
                question=row["question"],
                answers=tuple(row["answers"]),
                docs=(Path(row["doc"]).stem,),
                kind="squad",
                split=squad_split(row["id"]),
                passage=row["passage"],
            )
        )
    return out


def load_scifact(bench_dir: Path = BENCH_DIR) -> list[Question]:
    path = bench_dir / "scifact" / "questions.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append(
            Question(
                id=row["id"],
                question=row["question"],
                answers=(),
                docs=tuple(row["relevant_docs"]),
                kind="scifact",
                split="test",
            )
        )
    return out


def squad_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / "squad-v1.1-dev" / "corpus"


def scifact_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / "scifact" / "corpus"
