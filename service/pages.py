"""What a browser loads: the widget script, the demo page and a plain document view (the page
Slack citations link to when a document has no URL of its own).

The document view is rendered on the server with every corpus string HTML-escaped, under a CSP that
allows no script at all.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from index.store import VERSION_NAME
from index.titles import name_title

from .api import document_as_of
from .models import DOC_ID_PATTERN

STATIC = Path(__file__).with_name("static")

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
VIEW_CSP = ("default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/widget.js")
async def widget_js() -> Response:
    return Response(_static("widget.js"), media_type="text/javascript; charset=utf-8", headers={
        "cache-control": "public, max-age=300",
        "cross-origin-resource-policy": "cross-origin",
    })


@router.get("/demo.js")
async def demo_js() -> Response:
    return Response(_static("demo.js"), media_type="text/javascript; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})


@router.get("/page.css")
async def page_css() -> Response:
    return Response(_static("page.css"), media_type="text/css; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})


TRY_SLOT = "<!--try-->"
TRY_QUESTIONS = 3
TRY_LOOK = 50  # documents considered: the page stays cheap on a very large collection
TRY_TITLE_CHARS = 80


def _short(title: str, limit: int) -> str:
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    return title[:limit].rsplit(" ", 1)[0].rstrip(",;:-–—…") + "…"


def try_questions(titles: Iterable[str]) -> list[str]:
    """Example questions about the served collection, one per document: the shortest titles
    among the first few documents (short titles read best inside a question)."""
    looked = dict.fromkeys(t for t in itertools.islice(titles, TRY_LOOK) if t.strip())
    chosen = sorted(looked, key=len)[:TRY_QUESTIONS]  # stable: equal lengths keep id order
    return [f"What is “{_short(title, TRY_TITLE_CHARS)}” about?" for title in chosen]


def render_try(questions: list[str]) -> str:
    """The demo page's "Try" list: buttons that ask their question in the widget (demo.js)."""
    if not questions:
        return ""
    esc = html.escape
    items = "".join(
        f'<li><button type="button" class="try-question" data-question="{esc(q, quote=True)}">'
        f"{esc(q)}</button></li>"
        for q in questions
    )
    return f'<h2>Try</h2>\n    <ul class="try">{items}</ul>'


@router.get("/")
async def demo_page(request: Request) -> Response:
    # Examples come from the documents being served (none while the index is still loading).
    engine = request.app.state.service.runner.engine
    documents = engine.corpus.documents.values() if engine is not None else ()
    # A title made from a file name ("001 cee6b474") makes no sense as a question.
    titles = (d.title for d in documents if d.title != name_title(d.doc_id.rsplit("/", 1)[-1]))
    page = _static("index.html").decode("utf-8").replace(
        TRY_SLOT, render_try(try_questions(titles)))
    return Response(page, media_type="text/html; charset=utf-8",
                    headers={"content-security-policy": PAGE_CSP})


def render_document(
    title: str, text: str, url: str | None, version: str, start: int | None, end: int | None,
) -> str:
    esc = html.escape
    if start is not None and end is not None and 0 <= start <= end <= len(text):
        body = (f"{esc(text[:start])}<mark id=\"quote\">{esc(text[start:end])}</mark>"
                f"{esc(text[end:])}")
        note = "The cited passage is highlighted."
    else:
        body, note = esc(text), ""
    source = ""
    if url and urlsplit(url).scheme in ("http", "https"):
        source = (f' · <a href="{esc(url, quote=True)}" rel="noopener noreferrer">'
                  "original page</a>")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><link rel=\"stylesheet\" href=\"/page.css\">"
        "<link rel=\"icon\" href=\"data:,\"></head>"
        f"<body><main class=\"document\"><h1>{esc(title)}</h1>"
        f"<p class=\"meta\">index {esc(version)}{source}</p>"
        + (f"<p class=\"meta\">{note}</p>" if note else "")
        + f"<div class=\"text\">{body}</div></main></body></html>\n"
    )


@router.get("/documents/{doc_id}")
async def document_page(
    request: Request,
    doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN)],
    start: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    end: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    version: Annotated[str | None, Query(pattern=VERSION_NAME.pattern)] = None,
) -> Response:
    # A citation's offsets point into the text of the version that answered it.
    record, at = await document_as_of(request, doc_id, version)
    page = render_document(record.title, record.text, record.url, at, start, end)
    return Response(page, media_type="text/html; charset=utf-8",
                    headers={"content-security-policy": VIEW_CSP})
