"""Feedback on answers (helpful / not helpful, optional comment) in SQLite, and its export as
gold-set candidates.

An answer is referred to by content — question, answer text, source offsets, index version — and
``answer_id`` is a hash of that, so the widget (which holds the Answer JSON) and Slack (whose button
values carry only the id) name the same answer the same way. Slack answers are also kept for a week
in ``answers`` so the "Share to channel" button can re-post them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retriever.schema import Answer

KEEP_ANSWERS_S = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,
    answer_id TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    channel TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    comment TEXT,
    question TEXT NOT NULL,
    answer TEXT,
    abstained INTEGER NOT NULL,
    doc_id TEXT,
    start INTEGER,
    "end" INTEGER,
    index_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AnswerRef:
    """What feedback points at: enough to find the answer again and to judge it."""

    question: str
    answer: str | None
    abstained: bool
    doc_id: str | None
    start: int | None
    end: int | None
    index_version: str

    @classmethod
    def of(cls, answer: Answer) -> AnswerRef:
        source = answer.citations[0] if answer.citations and not answer.abstained else None
        return cls(
            question=answer.question, answer=answer.answer, abstained=answer.abstained,
            doc_id=source.doc_id if source else None, start=source.start if source else None,
            end=source.end if source else None, index_version=answer.index_version,
        )

    @property
    def id(self) -> str:
        key = json.dumps([self.index_version, self.question, self.answer, self.abstained,
                          self.doc_id, self.start, self.end], ensure_ascii=False)
        return hashlib.sha256(key.encode()).hexdigest()[:24]


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(
        self, ref: AnswerRef, *, helpful: bool, comment: str | None, channel: str,
        key: str | None = None,
    ) -> int:
        """Store one judgement; a later one with the same ``key`` (the same person and answer)
        replaces it instead of counting twice."""
        now = time.time()
        with self._lock:
            row = self._db.execute(
                """INSERT INTO feedback (key, answer_id, created, updated, channel, helpful,
                       comment, question, answer, abstained, doc_id, start, "end", index_version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET updated=excluded.updated,
                       helpful=excluded.helpful, comment=COALESCE(excluded.comment, comment)
                   RETURNING id""",
                (key, ref.id, now, now, channel, int(helpful), comment, ref.question, ref.answer,
                 int(ref.abstained), ref.doc_id, ref.start, ref.end, ref.index_version),
            ).fetchone()
        return int(row[0])

    def remember(self, answer: Answer) -> str:
        """Keep an answer (for Slack's buttons) and return its id; drops week-old ones."""
        answer_id = AnswerRef.of(answer).id
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM answers WHERE created < ?", (now - KEEP_ANSWERS_S,))
            self._db.execute(
                "INSERT OR REPLACE INTO answers (answer_id, created, body) VALUES (?, ?, ?)",
                (answer_id, now, answer.model_dump_json(exclude={"debug"})),
            )
        return answer_id

    def recall(self, answer_id: str) -> Answer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM answers WHERE answer_id = ?", (answer_id,)
            ).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM feedback ORDER BY id")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def export_candidates(self) -> list[dict[str, Any]]:
        return export_candidates(self.rows())


def export_candidates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gold-set candidates, one per judged answer, in the gold line format plus a ``review``
    object; a person checks each and drops ``review`` before adding it to eval/gold.jsonl.

    - judged helpful, answered: the answer sentence is the accepted answer (trim it to the span);
    - judged helpful, abstained: a confirmed unanswerable question;
    - judged not helpful: the question with no answer yet (the reviewer supplies it).
    """
    by_answer: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_answer.setdefault(row["answer_id"], []).append(row)
    out = []
    for answer_id, judged in by_answer.items():
        first = judged[0]
        helpful = sum(1 for r in judged if r["helpful"])
        unhelpful = len(judged) - helpful
        confirmed = helpful > unhelpful
        abstained = bool(first["abstained"])
        answers = [first["answer"]] if confirmed and not abstained and first["answer"] else []
        out.append({
            "id": f"fb-{answer_id[:12]}",
            "question": first["question"],
            "answers": answers,
            "docs": [first["doc_id"]] if answers and first["doc_id"] else [],
            "kind": "unanswerable" if confirmed and abstained else "factoid",
            "split": "dev",
            "review": {
                "status": "confirmed" if confirmed else "disputed",
                "helpful": helpful,
                "not_helpful": unhelpful,
                "comments": [r["comment"] for r in judged if r["comment"]],
                "system_answer": first["answer"],
                "abstained": abstained,
                "source": ({"doc_id": first["doc_id"], "start": first["start"],
                            "end": first["end"]} if first["doc_id"] else None),
                "index_version": first["index_version"],
                "channels": sorted({r["channel"] for r in judged}),
            },
        })
    return out
