"""A6: CORS from the allowed widget origins and from hostile look-alikes: preflights, simple POSTs
and GETs. Access-Control-Allow-Origin appears only for an exact allowlisted origin, is never `*`,
and credentials are never allowed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .audit import ResponseAudit
from .common import report
from .service_app import live_service

ALLOWED = ["https://allowed.example", "http://127.0.0.1:8080"]
HOSTILE = [
    "null", "http://allowed.example", "https://allowed.example:444", "https://allowed.example.",
    "https://ALLOWED.EXAMPLE", "https://Allowed.Example", "https://allowed.example.evil.net",
    "https://evilallowed.example", "https://sub.allowed.example", "https://allowed.exampl",
    "https://allowed.examplee", "https://evil.example", "file://", "https://allowed.example/",
    "https://allowed.example/path", "https://allowed.example%2Eevil.net",
    "https://allowed.example@evil.net", "https://evil.net#https://allowed.example",
    "https://evil.net?https://allowed.example", "http://127.0.0.1", "http://127.0.0.1:8081",
    "https://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080",
    "http://127.0.0.1:8080.evil.net", "chrome-extension://abc", "https://xn--allowed-example",
    "*", "https://allowed.example,https://evil.example", "https://allowed.example https://evil",
    "https://allowed.example/../", "",
]
PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "content-type"}


@pytest.fixture(scope="module")
def api(hashing_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with live_service(hashing_index, tmp_path_factory.mktemp("a6"),
                      widget_origins=ALLOWED) as live:
        yield live


def _requests(client: httpx.Client, origin: str) -> list[httpx.Response]:
    headers = {"origin": origin}
    return [
        client.options("/v1/ask", headers={**headers, **PREFLIGHT}),
        client.options("/v1/search", headers={**headers, "access-control-request-method": "GET"}),
        client.post("/v1/ask", json={"question": "When was the MoU signed?"}, headers=headers),
        client.get("/v1/search", params={"q": "ferry"}, headers=headers),
        client.get("/v1/documents/zz_ferry_timetable", headers=headers),
        client.post("/v1/ask", json={"question": ""}, headers=headers),  # an error response
    ]


def test_a6_cors_exact_origins_only(api: Any, audit: ResponseAudit) -> None:
    wrong: list[str] = []
    checked = 0
    with httpx.Client(base_url=api.url, timeout=60) as client:
        for origin in ALLOWED + HOSTILE:
            for response in _requests(client, origin):
                audit.check(response)
                checked += 1
                acao = response.headers.get("access-control-allow-origin")
                expected = origin if origin in ALLOWED else None
                where = f"{origin!r} {response.request.method} {response.request.url.path}"
                if acao != expected:
                    wrong.append(f"{where}: ACAO {acao!r}")
                if "access-control-allow-credentials" in response.headers:
                    wrong.append(f"{where}: credentials allowed")
                if response.request.method == "OPTIONS" and origin not in ALLOWED and \
                        response.status_code < 400:
                    wrong.append(f"{where}: preflight accepted")
                if origin in ALLOWED and response.request.method != "OPTIONS" and \
                        "origin" not in response.headers.get("vary", "").lower():
                    wrong.append(f"{where}: no Vary: Origin")
    report(f"A6: {len(ALLOWED)} allowed / {len(HOSTILE)} hostile origins × 6 requests "
           f"(preflight, simple, error) = {checked} responses: {len(wrong)} wrong ACAO, "
           "0 `*`, 0 credentials")
    assert wrong == []
