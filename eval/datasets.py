"""Question sets: the seed gold set and the external benchmarks in ../shared/bench."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .splits import article_split

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
    split: str  # "train" (fitting), "dev" (tuning) or "test" (reporting)
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


def _squad_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def squad_training_articles(bench_dir: Path = BENCH_DIR) -> frozenset[str]:
    """Articles whose questions are training data (the v1.1 articles outside SQuAD 2.0)."""
    path = bench_dir / "squad-v1.1-dev" / "questions-train.jsonl"
    return frozenset(Path(str(row["doc"])).stem for row in _squad_rows(path))


def _load_squad_file(path: Path, kind: str, training: frozenset[str]) -> list[Question]:
    out = []
    for row in _squad_rows(path):
        article = Path(str(row["doc"])).stem
        out.append(
            Question(
                id=str(row["id"]),
                question=str(row["question"]),
                answers=tuple(str(a) for a in row["answers"]),  # type: ignore[attr-defined]
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
    path = bench_dir / "squad-v1.1-dev" / "questions.jsonl"
    return _load_squad_file(path, "squad", squad_training_articles(bench_dir))


def load_squad_train(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """The 4,126 v1.1 training questions (all split "train")."""
    path = bench_dir / "squad-v1.1-dev" / "questions-train.jsonl"
    return _load_squad_file(path, "squad", squad_training_articles(bench_dir))


def load_squad2(bench_dir: Path = BENCH_DIR) -> list[Question]:
    """SQuAD 2.0 dev questions over 25 articles, about half unanswerable (``answers`` empty)."""
    path = bench_dir / "squad-v2.0-dev" / "questions.jsonl"
    return _load_squad_file(path, "squad2", squad_training_articles(bench_dir))


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


def squad2_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / "squad-v2.0-dev" / "corpus"


def scifact_corpus(bench_dir: Path = BENCH_DIR) -> Path:
    return bench_dir / "scifact" / "corpus"
