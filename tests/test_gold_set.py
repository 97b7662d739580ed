"""Consistency checks for the gold evaluation set (eval/gold.jsonl).

Pure file checks: no network, no model. Answers are compared the way the graders compare
them, after SQuAD normalisation (lower-case, strip ASCII punctuation, drop the articles
a/an/the, collapse whitespace).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "gold.jsonl"
SEEDS = ROOT / "seeds"

KEYS = {"id", "question", "answers", "docs", "kind", "split"}
KINDS = {
    "factoid",
    "date",
    "numeric",
    "person",
    "list",
    "paraphrase",
    "conflict",
    "unanswerable",
}
SPLITS = {"dev", "test"}
ID_RE = re.compile(r"^g\d{3,}$")
PUNCT = set(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize(text: str) -> str:
    """SQuAD answer normalisation."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in PUNCT)
    text = ARTICLES.sub(" ", text)
    return " ".join(text.split())


@cache
def load_gold() -> tuple[dict, ...]:
    rows = []
    with GOLD.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            assert line.strip(), f"blank line {lineno} in {GOLD}"
            row = json.loads(line)
            assert isinstance(row, dict), f"line {lineno} is not a JSON object"
            rows.append(row)
    return tuple(rows)


@cache
def seed_texts() -> dict[str, str]:
    return {p.stem: normalize(p.read_text(encoding="utf-8")) for p in SEEDS.glob("*.txt")}


def answerable() -> list[dict]:
    return [r for r in load_gold() if r["kind"] != "unanswerable"]


def test_file_parses_and_is_utf8() -> None:
    GOLD.read_bytes().decode("utf-8")
    assert load_gold()


def test_keys_and_types() -> None:
    for row in load_gold():
        assert set(row) == KEYS, row
        assert isinstance(row["id"], str) and ID_RE.match(row["id"]), row["id"]
        assert isinstance(row["question"], str) and row["question"].strip(), row["id"]
        assert isinstance(row["answers"], list), row["id"]
        assert all(isinstance(a, str) and a.strip() for a in row["answers"]), row["id"]
        assert isinstance(row["docs"], list), row["id"]
        assert all(isinstance(d, str) for d in row["docs"]), row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert row["split"] in SPLITS, row["id"]


def test_ids_unique() -> None:
    counts = Counter(r["id"] for r in load_gold())
    assert not [i for i, n in counts.items() if n > 1]


def test_questions_unique() -> None:
    counts = Counter(normalize(r["question"]) for r in load_gold())
    assert not [q for q, n in counts.items() if n > 1]


def test_sizes() -> None:
    rows = load_gold()
    assert len(rows) >= 110
    assert sum(r["kind"] == "unanswerable" for r in rows) >= 25


def test_every_kind_in_both_splits() -> None:
    present = {(r["kind"], r["split"]) for r in load_gold()}
    missing = [(k, s) for k in sorted(KINDS) for s in sorted(SPLITS) if (k, s) not in present]
    assert not missing


def test_splits_roughly_balanced() -> None:
    counts = Counter(r["split"] for r in load_gold())
    total = sum(counts.values())
    assert abs(counts["dev"] - counts["test"]) <= max(2, total // 10), counts


def test_every_document_covered_in_both_splits() -> None:
    per_doc = Counter(d for r in answerable() for d in r["docs"])
    for stem in seed_texts():
        assert per_doc[stem] >= 12, f"{stem} supports only {per_doc[stem]} answerable questions"
        for split in SPLITS:
            assert any(stem in r["docs"] and r["split"] == split for r in answerable()), (
                stem,
                split,
            )


def test_unanswerable_have_no_answers_or_docs() -> None:
    for row in load_gold():
        if row["kind"] == "unanswerable":
            assert row["answers"] == [] and row["docs"] == [], row["id"]


def test_conflicts_cite_several_values() -> None:
    for row in load_gold():
        if row["kind"] == "conflict":
            assert len({normalize(a) for a in row["answers"]}) >= 2, row["id"]


@pytest.mark.parametrize("row", answerable(), ids=lambda r: r["id"])
def test_answer_occurs_in_a_supporting_doc(row: dict) -> None:
    texts = seed_texts()
    assert row["answers"], f"{row['id']}: answerable question without answers"
    assert row["docs"], f"{row['id']}: answerable question without docs"
    assert len(set(row["docs"])) == len(row["docs"]), f"{row['id']}: repeated doc id"
    for doc in row["docs"]:
        assert doc in texts, f"{row['id']}: unknown doc {doc!r}"
    for answer in row["answers"]:
        assert normalize(answer), f"{row['id']}: answer {answer!r} normalises to nothing"
    found = any(normalize(answer) in texts[doc] for answer in row["answers"] for doc in row["docs"])
    assert found, f"{row['id']}: no answer occurs in {row['docs']}"
