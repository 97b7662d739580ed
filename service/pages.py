"""What a browser loads: the widget script, the demo page and a plain document view (the page
Slack citations link to when a document has no URL of its own).

The document view is rendered on the server with every corpus string HTML-escaped, under a CSP that
allows no script at all.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from .models import DOC_ID_PATTERN
from .problems import Problem

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


@router.get("/page.css")
async def page_css() -> Response:
    return Response(_static("page.css"), media_type="text/css; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})


@router.get("/")
async def demo_page() -> Response:
    return Response(_static("index.html"), media_type="text/html; charset=utf-8",
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
) -> Response:
    engine = request.app.state.service.runner.require()
    record = engine.document(doc_id)
    if record is None:
        raise Problem(404, "no document has this id")
    page = render_document(record.title, record.text, record.url, engine.version, start, end)
    return Response(page, media_type="text/html; charset=utf-8",
                    headers={"content-security-policy": VIEW_CSP})
