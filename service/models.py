"""Request and response bodies of the JSON API (the Answer itself is ``retriever.schema.Answer``).

Every string and number has a limit, and unknown fields are refused (OWASP API4).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from retriever.engine import MAX_QUESTION_CHARS
from retriever.schema import SearchHit

DOC_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"
VERSION_PATTERN = r"^[A-Za-z0-9_.\-]{1,100}$"
# What the engine accepts as a question, stated in the schema so clients (and schema fuzzers) know:
# no control characters other than tab/CR/LF (Unicode Cc), and at least one non-space character.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
QUESTION_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"


class _Strict(BaseModel):
    # strict: JSON true is not the integer 1, nor "3" the number 3.
    model_config = ConfigDict(extra="forbid", strict=True)


class AskRequest(_Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=QUESTION_PATTERN,
                          description="the question, in plain text")
    top_k: int | None = Field(None, ge=1, le=50, description="citations to return (default 5)")
    debug: bool = Field(False, description="include each retriever's rank and score")

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"question": "When was the MoU between Liverpool and Oxford signed?", "top_k": 3},
    ]})


class SearchResponse(BaseModel):
    query: str
    index_version: str
    hits: list[SearchHit]


class DocumentResponse(BaseModel):
    """A document's text: the string every citation's ``start``/``end`` point into."""

    doc_id: str
    title: str
    url: str | None
    date: str | None
    text: str
    index_version: str = Field(description="the version this text is from: the one asked for "
                               "with `?version=`, else the version served now")


class FeedbackRequest(_Strict):
    """A judgement of one answer, which is named by content: copy the fields from the Answer."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str | None = Field(None, max_length=20_000,
                               description="the Answer's `answer` (null when it abstained)")
    abstained: bool
    doc_id: str | None = Field(None, pattern=DOC_ID_PATTERN,
                               description="citations[0].doc_id of an answered question")
    start: int | None = Field(None, ge=0, le=1_000_000_000)
    end: int | None = Field(None, ge=0, le=1_000_000_000)
    index_version: str = Field(pattern=VERSION_PATTERN)
    helpful: bool
    comment: str | None = Field(None, max_length=1000)
    client_key: str | None = Field(
        None, pattern=r"^[A-Za-z0-9\-]{8,64}$",
        description="optional: a later post with the same key replaces this one (e.g. to add a "
                    "comment) instead of counting twice",
    )

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "question": "When was the MoU signed?",
        "answer": "Signed on February 19, 2026, at Oxford's Schwarzman Centre for the Humanities.",
        "abstained": False, "doc_id": "001_cee6b474e733bd54", "start": 331, "end": 410,
        "index_version": "v000004-9f2c1d", "helpful": True, "comment": "exactly right",
    }]})


class FeedbackResponse(BaseModel):
    id: int
    answer_id: str
    status: str = "recorded"


class ProblemBody(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
