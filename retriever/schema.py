"""The Answer object: the one schema behind the CLI, the API, the widget, Slack and eval."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Highlight(_Frozen):
    """The part of ``answer`` that answers the question, as offsets relative to ``answer``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Citation(_Frozen):
    """A quote from a document. ``document_text[start:end] == quote`` always holds, and
    ``document_text[passage_start:passage_end] == passage`` (the chunk around the quote)."""

    doc_id: str
    title: str
    url: str | None = None
    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    passage: str
    passage_start: int = Field(ge=0)
    passage_end: int = Field(ge=0)
    score: float
    # Where the quote sits, for people: its 1-based line in the document text and the nearest
    # heading above it in the same document (None when the document has none there).
    line: int | None = Field(default=None, ge=1)
    section: str | None = None


class RetrieverTrace(_Frozen):
    """Why a passage ranked where it did: each retriever's rank (1-based) and raw score.

    ``dense`` searches chunk vectors, ``bm25`` chunk text, ``sentence`` sentence vectors (a chunk
    takes the rank of its best sentence)."""

    chunk_id: str
    fused_rank: int
    fused_score: float
    dense_rank: int | None
    dense_score: float | None
    bm25_rank: int | None
    bm25_score: float | None
    sentence_rank: int | None = None
    sentence_score: float | None = None


class Answer(_Frozen):
    question: str
    answer: str | None
    highlight: Highlight | None = None
    abstained: bool
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation]
    conflicts: list[Citation] = Field(default_factory=list)
    index_version: str
    answer_model: str | None = None  # the reader that chose the answer and its confidence
    timings_ms: dict[str, float]
    debug: list[RetrieverTrace] | None = None


class SearchHit(_Frozen):
    """A passage returned by search, with its retrieval trace."""

    doc_id: str
    title: str
    url: str | None = None
    passage: str
    passage_start: int
    passage_end: int
    score: float
    trace: RetrieverTrace
