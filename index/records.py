"""Typed records that flow through ingestion and into the index directory.

Every offset is a half-open range of Unicode code points into ``Document.text``, and for every
record ``document.text[start:end] == record.text`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# What a sentence is in its document: plain prose, a bullet/list item, a line ending in ":" that
# introduces list items, or a short heading line. The answer stage merges lead-ins with their items
# and never answers with a heading alone.
SentenceRole = Literal["text", "list_item", "lead_in", "heading"]
ROLES: tuple[SentenceRole, ...] = ("text", "list_item", "lead_in", "heading")  # codes on disk


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence found by the segmenter: offsets and role, no text (the text is the slice)."""

    start: int
    end: int
    role: SentenceRole = "text"


@dataclass(frozen=True)
class LoadedDocument:
    """What a loader returns for one file.

    ``text`` is the text citations point into: a .txt/.md file's own text, or the visible text of an
    HTML page / PDF. ``skip`` lists boilerplate ranges (navigation, consent and form text) that the
    segmenter must not turn into sentences.
    """

    doc_id: str
    source_path: str
    text: str
    title: str
    url: str | None = None
    date: str | None = None
    skip: tuple[Span, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Sentence:
    id: str  # f"{doc_id}:s{ordinal}"
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    role: SentenceRole
    chunk_ordinal: int  # the chunk whose range holds it


@dataclass(frozen=True)
class Chunk:
    id: str  # f"{doc_id}:c{ordinal}"
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    first_sentence: int  # ordinals, half-open: sentences[first_sentence:last_sentence]
    last_sentence: int


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    title: str
    url: str | None
    date: str | None
    source_path: str
    content_sha256: str  # of the source file's bytes
    text: str


@dataclass(frozen=True, kw_only=True)
class Units:
    """Sentences and chunks with their vectors and tokens, in unit order (documents by id, units
    by ordinal): one document's share (``DocUnits``) or a whole version (``IndexContent``). Row i
    of a vector array or token list belongs to unit i."""

    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    sentence_vectors: np.ndarray  # (len(sentences), dim) float32, L2-normalised
    chunk_vectors: np.ndarray
    sentence_tokens: Sequence[list[str]]
    chunk_tokens: Sequence[list[str]]


@dataclass(frozen=True, kw_only=True)
class DocUnits(Units):
    """One document's share of the index: its record, and its units' records, vectors, tokens."""

    record: DocumentRecord


def is_question(text: str) -> bool:
    """Whether a sentence asks rather than states (its last mark, quotes aside, is "?")."""
    return text.rstrip("’”\"') ").endswith("?")


class LoadError(Exception):
    """A file that cannot be ingested; the message says why (never a traceback)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type[LoadError], tuple[str, str]]:
        # Rebuilt from its two fields when it crosses to another process (ingest's loaders).
        return (LoadError, (self.path, self.reason))
