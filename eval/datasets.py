"""Question sets: the seed gold set and the external benchmarks in ../shared/bench."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .splits import article_split

REPO = Path(__file__).resolve().parents[1]
GOLD_PATH = REPO / "eval" / "gold.jsonl"
DOCS_PATH = REPO / "eval" / "docs" / "questions.jsonl"
BENCH_DIR = REPO.parent / "shared" / "bench"
SQUAD_DIR, SQUAD2_DIR, SCIFACT_DIR = "squad-v1.1-dev", "squad-v2.0-dev", "scifact"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the collection does not hold the answer
    docs: tuple[str, ...]  # supporting doc ids
    kind: str
    split: str  # "train" (fitting), "dev" (tuning) or "test" (reporting)
    passage: str = ""  # SQuAD: the gold paragraph
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-blank line: the format of every question file here."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_gold(path: Path = GOLD_PATH) -> list[Question]:
    return [Question(id=row["id"], question=row["question"], answers=tuple(row["answers"]),
                     docs=tuple(row["docs"]), kind=row["kind"], split=row["split"])
            for row in _jsonl(path)]


def load_docs(path: Path = DOCS_PATH) -> list[Question]:
    """Questions on real documentation (``eval/docs``): same format as the gold set, split by
    document."""
    return load_gold(path)


def squad_training_articles(bench_dir: Path = BENCH_DIR) -> frozenset[str]:
    """Articles whose questions are training data (the v1.1 articles outside SQuAD 2.0)."""
    path = bench_dir / SQUAD_DIR / "questions-train.jsonl"
    return frozenset(Path(str(row["doc"])).stem for row in _jsonl(path))


def _load_squad_file(
    bench_dir: Path, folder: str, name: str, kind: str
) -> list[Question]:
    """A SQuAD-format question file (v1.1 or 2.0); the split follows the article."""
    training = squad_training_articles(bench_dir)
    out = []
    for row in _jsonl(bench_dir / folder / name):
        article = Path(str(row["doc"])).stem
        out.append(
            Question(
                id=str(row["id"]),
                question=str(row["question"]),
                answers=tuple(str(a) for a in row["answers"]),
                docs=(article,),
                kind=kind if row["answers"] else "unanswerable",
                split=article_split(article, training),
                passage=str(row["passage"]),
                extra={"title": str(row.get("title", ""))},
            )
        )
    return out


def load_squad(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """The 500-question SQuAD v1.1 sample (evaluation only: never trained on); questions from
    training articles carry split "train" and are left out of reports."""
    return _load_squad_file(bench_dir, SQUAD_DIR, "questions.jsonl", "squad")


def load_squad_train(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """The 4,126 v1.1 training questions (all split "train")."""
    return _load_squad_file(bench_dir, SQUAD_DIR, "questions-train.jsonl", "squad")


def load_squad2(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """SQuAD 2.0 dev questions over 25 articles, about half unanswerable (``answers`` empty)."""
    return _load_squad_file(bench_dir, SQUAD2_DIR, "questions.jsonl", "squad2")


def load_scifact(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """SciFact claims: retrieval only (no answers), all split "test"."""
    return [Question(id=row["id"], question=row["question"], answers=(),
                     docs=tuple(row["relevant_docs"]), kind="scifact", split="test")
            for row in _jsonl(bench_dir / SCIFACT_DIR / "questions.jsonl")]


def squad_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / SQUAD_DIR / "corpus"


def squad2_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / SQUAD2_DIR / "corpus"


def scifact_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / SCIFACT_DIR / "corpus"
