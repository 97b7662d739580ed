"""The JSON API: /v1/ask, /v1/search, /v1/documents/{doc_id}, /v1/feedback."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from index.manifest import IndexMismatch
from index.records import DocumentRecord
from index.store import VERSION_NAME, VersionGone, read_document, was_collected
from retriever.engine import MAX_QUESTION_CHARS, QuestionError
from retriever.schema import Answer

from .feedback import AnswerRef
from .models import (
    DOC_ID_PATTERN,
    QUESTION_PATTERN,
    AskRequest,
    DocumentResponse,
    FeedbackRequest,
    FeedbackResponse,
    SearchResponse,
)
from .problems import Problem, problem_doc
from .ratelimit import retry_after
from .runtime import EngineRunner

log = logging.getLogger("citeqa.service")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem_doc("The body is not UTF-8 JSON, or a header is malformed"),
    413: problem_doc("The body is over the size limit"),
    422: problem_doc("The request is invalid (the input is never echoed)"),
    429: problem_doc("Rate limited; see Retry-After"),
    503: problem_doc("Not ready (index loading) or busy; see Retry-After"),
}


async def rate_limited(request: Request) -> None:
    # async: a plain def dependency would hop to the thread pool and back on every request, and
    # taking a token is a dict update under the limiter's lock, too short to be worth the hop.
    service = request.app.state.service
    client = request.client.host if request.client else "-"
    wait = service.api_limiter.take(client)
    if wait:
        raise Problem(429, "too many requests; slow down",
                      headers={"Retry-After": retry_after(wait)})


async def utf8_body(request: Request) -> None:
    """JSON bodies must be UTF-8 (RFC 8259); Python's json would also take UTF-16 and UTF-32."""
    if request.method == "POST":
        try:
            (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(400, "the body is not UTF-8") from None


router = APIRouter(prefix="/v1", dependencies=[Depends(rate_limited), Depends(utf8_body)],
                   responses=ERRORS)


def answer_json(answer: Answer) -> bytes:
    """The Answer as the API sends it: every field, ``debug`` only when asked for."""
    exclude = {"debug"} if answer.debug is None else None
    return answer.model_dump_json(exclude=exclude).encode()


def _runner(request: Request) -> EngineRunner:
    return request.app.state.service.runner  # type: ignore[no-any-return]


async def _engine_call(coro: Any) -> Any:
    try:
        return await coro
    except QuestionError as exc:  # its message is written to be safe to show
        raise Problem(422, str(exc)) from None


@router.post("/ask", response_model=Answer, tags=["answers"],
             summary="Answer a question with a quote from the documents, or abstain")
async def ask(body: AskRequest, request: Request) -> Response:
    runner = _runner(request)
    future = runner.submit_ask(body.question, body.top_k, debug=body.debug, channel="http")
    answer = await _engine_call(runner.wait(future))
    return Response(answer_json(answer), media_type="application/json")


@router.get("/search", response_model=SearchResponse, tags=["answers"],
            summary="The best passages for a query, with each retriever's rank and score")
async def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS,
                            pattern=QUESTION_PATTERN)],
    top_k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Response:
    runner = _runner(request)
    hits, version = await _engine_call(runner.run(lambda e: (e.search(q, top_k), e.version)))
    body = SearchResponse(query=" ".join(q.split()), index_version=version, hits=hits)
    return Response(body.model_dump_json(), media_type="application/json")


VersionQuery = Annotated[str | None, Query(
    pattern=VERSION_NAME.pattern,
    description="an Answer's `index_version`: the text as that version holds it, which is what "
                "its citations' offsets point into (default: the version served now)",
)]


@router.get("/documents/{doc_id}", response_model=DocumentResponse, tags=["documents"],
            summary="A document's text (citation offsets point into it)",
            responses={404: problem_doc("No such document (in that version), or a version that "
                                        "never existed"),
                       410: problem_doc("That index version is no longer kept")})
async def document(
    request: Request, doc_id: Annotated[str, Path(pattern=DOC_ID_PATTERN)],
    version: VersionQuery = None,
) -> Response:
    record, at = await document_as_of(request, doc_id, version)
    body = DocumentResponse(doc_id=record.doc_id, title=record.title, url=record.url,
                            date=record.date, text=record.text, index_version=at)
    return Response(body.model_dump_json(), media_type="application/json")


async def document_as_of(
    request: Request, doc_id: str, version: str | None,
) -> tuple[DocumentRecord, str]:
    """The document as ``version`` holds it (None: the served version) and that version's name.

    A citation's offsets point into the text of the version that answered, so that text is read
    from the version's directory when it is no longer served; a version that is gone is a 410,
    never another version's text. The document view (pages.py) can use this too."""
    engine = _runner(request).require()
    if version is None or version == engine.version:
        record, at = engine.document(doc_id), engine.version
    else:
        index_dir = request.app.state.service.settings.index_dir
        try:
            record = await asyncio.to_thread(read_document, index_dir, version, doc_id)
        except VersionGone:
            raise await _absent_version(index_dir, version) from None
        except IndexMismatch as exc:  # written by another citeqa format
            log.warning("index version unreadable: %s", exc)
            raise Problem(410, "this index version can no longer be read") from None
        at = version
    if record is None:
        where = " in this index version" if version else ""
        raise Problem(404, f"no document has this id{where}")
    return record, at


async def _absent_version(index_dir: pathlib.Path, version: str) -> Problem:
    """410 for a version garbage collection removed; 404 for one that never existed here."""
    if await asyncio.to_thread(was_collected, index_dir, version):
        return Problem(410, "this index version is no longer kept, so its text cannot be shown; "
                            "ask again for a citation into the current version")
    return Problem(404, "no index version has this name")


def _check_reference(request: Request, body: FeedbackRequest) -> None:
    if body.abstained != (body.answer is None):
        raise Problem(422, "an abstained answer has no answer text, and an answer has one")
    offsets = (body.start, body.end)
    if (None in offsets and offsets != (None, None)) or (body.start is not None
                                                         and body.doc_id is None):
        raise Problem(422, "doc_id, start and end go together")
    if body.start is not None and body.end is not None and body.start > body.end:
        raise Problem(422, "start is after end")
    engine = _runner(request).engine
    if engine is None or body.doc_id is None or body.index_version != engine.version:
        return  # feedback on an older version is still worth keeping
    record = engine.document(body.doc_id)
    if record is None or (body.end is not None and body.end > len(record.text)):
        raise Problem(422, "the cited document or offsets do not exist in this index")


@router.post("/feedback", response_model=FeedbackResponse, status_code=201, tags=["feedback"],
             summary="Record whether an answer helped (optionally with a comment)")
async def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    _check_reference(request, body)
    service = request.app.state.service
    ref = AnswerRef(question=" ".join(body.question.split()), answer=body.answer,
                    abstained=body.abstained, doc_id=body.doc_id, start=body.start, end=body.end,
                    index_version=body.index_version)
    key = f"http:{body.client_key}:{ref.id}" if body.client_key else None
    comment = body.comment.strip() or None if body.comment else None
    row_id = await asyncio.to_thread(service.feedback.record, ref, helpful=body.helpful,
                                     comment=comment, channel="http", key=key)
    service.metrics.feedback.labels(str(body.helpful).lower(), "http").inc()
    return FeedbackResponse(id=row_id, answer_id=ref.id)
