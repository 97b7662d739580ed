"""A3 body limits and A4 input validation, through real HTTP against real uvicorn: sizes around
the limit, chunked bodies without Content-Length, Content-Length that lies, deep JSON; over-long,
out-of-range, control-character, non-UTF-8, wrongly typed and unexpected input. Every error is
problem+json, never a 5xx, and never contains the input it refuses."""

from __future__ import annotations

import json
import resource
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .audit import ResponseAudit
from .common import report
from .service_app import live_service

MARKER = "ZqX9marker"


@pytest.fixture(scope="module")
def api(hashing_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("a3")
    with live_service(hashing_index, tmp, slack_signing_secret="a3-secret-0123456789") as live:
        yield live


def _raw(live: Any, head: str, body: bytes, *, half_close: bool = False) -> int | None:
    """Send bytes the way no well-behaved client would; the status code, or None when the
    server closed the connection without answering."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        try:
            first = sock.recv(64)
        except (TimeoutError, ConnectionResetError):
            return None
    return int(first.split()[1]) if first.startswith(b"HTTP/1.1 ") else None


def _head(path: str, length: int | None, *, chunked: bool = False) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n\r\n"


def _chunked(data: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
             for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_a3_body_limits(api: Any, audit: ResponseAudit) -> None:
    limit = api.settings.max_body_bytes
    slack_limit = api.settings.slack_max_body_bytes
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    question = json.dumps({"question": "When was the MoU signed?"})
    results: list[tuple[str, int | None, set[int | None]]] = []

    def post(label: str, path: str, content: bytes, expect: set[int | None],
             **headers: str) -> None:
        response = audit.check(httpx.post(api.url + path, content=content, timeout=60,
                                          headers={"content-type": "application/json",
                                                   **headers}))
        if response.status_code == 413:
            assert response.headers["content-type"].startswith("application/problem+json")
        results.append((label, response.status_code, expect))

    for delta, expect in ((-1, {200}), (0, {200}), (1, {413}), (9 * limit, {413})):
        post(f"/v1/ask at limit{delta:+d}", "/v1/ask",
             question.ljust(limit + delta).encode(), expect)
    for delta, expect in ((0, {401}), (1, {413}), (9 * slack_limit, {413})):
        post(f"/slack at limit{delta:+d}", "/slack/commands", b"x" * (slack_limit + delta),
             expect, **{"content-type": "application/x-www-form-urlencoded"})
    for size, expect in ((limit, {200}), (limit + 1, {413}), (10 * limit, {413})):
        body = question.ljust(size).encode()
        status = _raw(api, _head("/v1/ask", None, chunked=True), _chunked(body))
        results.append((f"chunked, no Content-Length, {size} bytes", status, expect))
    body = question.encode()
    results.append(("Content-Length lies low", _raw(api, _head("/v1/ask", 10), body),
                    {400, 422}))
    results.append(("Content-Length lies high", _raw(api, _head("/v1/ask", len(body) + 500),
                                                     body, half_close=True), {None, 400}))
    results.append(("Content-Length over the limit, no body",
                    _raw(api, _head("/v1/ask", limit * 100), b"", half_close=True), {413}))
    results.append(("Content-Length not a number", _raw(api, "POST /v1/ask HTTP/1.1\r\nHost: x"
                    "\r\nContent-Length: 12abc\r\nConnection: close\r\n\r\n", b"{}"),
                    {400}))
    depth = (limit - 2) // 2
    post(f"JSON nested {depth} deep", "/v1/ask", b"[" * depth + b"]" * depth, {400, 422})
    post("JSON object nested deep", "/v1/ask",
         b'{"question":' * 1000 + b'"x"' + b"}" * 1000, {400, 422})
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wrong = [r for r in results if r[1] not in r[2]]
    server_errors = [r for r in results if r[1] is not None and r[1] >= 500]
    report(f"A3: {len(results) - len(wrong)}/{len(results)} size cases correct (limit "
           f"{limit:,} B for /v1, {slack_limit:,} B for /slack; chunked, lying Content-Length, "
           f"deep JSON), {len(server_errors)} 5xx; test-process peak RSS "
           f"{rss_before // 1024} → {rss_after // 1024} MB")
    assert wrong == [] and server_errors == []
    assert audit.check(httpx.get(api.url + "/healthz")).status_code == 200


INVALID_ASK: list[Any] = [
    {"question": MARKER * 200},
    {"question": MARKER, "top_k": 0},
    {"question": MARKER, "top_k": 51},
    {"question": MARKER, "top_k": -1},
    {"question": MARKER, "top_k": 10**30},
    {"question": MARKER, "top_k": 2.5},
    {"question": MARKER, "top_k": "3"},
    {"question": MARKER, "top_k": True},
    {"question": MARKER, "top_k": None, "debug": MARKER},
    {"question": MARKER, MARKER: 1},
    {"question": f"{MARKER}\u0000"},
    {"question": f"{MARKER}\u001b[31m"},
    {"question": f"{MARKER}\u007f"},
    {"question": f"{MARKER}\u0085"},
    {"question": "   "},
    {"question": "\u3000\u2003"},
    {"question": ""},
    {"question": [MARKER]},
    {"question": {MARKER: MARKER}},
    {"question": 12345},
    {"top_k": 3, "note": MARKER},
    [MARKER],
    MARKER,
    None,
]
RAW_BODIES: list[tuple[bytes, str]] = [
    (f'{{"question": "{MARKER}"'.encode(), "application/json"),
    (b'{"question": "\xff\xfe' + MARKER.encode() + b'"}', "application/json"),
    (b'{"question": "' + MARKER.encode() + b'\xc3\x28"}', "application/json"),
    (f"question={MARKER}".encode(), "application/x-www-form-urlencoded"),
    (MARKER.encode(), "text/plain"),
    (f'{{"question": "{MARKER}"}}'.encode(), "text/plain"),
    (f'{{"question": "{MARKER}"}}'.encode("utf-16"), "application/json"),
    (f'{{"question": "{MARKER}", "question": 1}}'.encode(), "application/json"),
    (f'{{"question": NaN, "x": "{MARKER}"}}'.encode(), "application/json"),
]
INVALID_GETS = [
    ("/v1/search", {"q": MARKER * 200}),
    ("/v1/search", {"q": MARKER, "top_k": "0"}),
    ("/v1/search", {"q": MARKER, "top_k": MARKER}),
    ("/v1/search", {"q": f"{MARKER}\u0000"}),
    ("/v1/search", {"q": ""}),
    ("/v1/search", {}),
    (f"/v1/documents/{MARKER}%3Cscript%3E", {}),
    (f"/v1/documents/{MARKER}%00", {}),
    (f"/v1/documents/{MARKER}" + "x" * 300, {}),
    (f"/documents/{MARKER}%22%3E", {}),
    ("/documents/zz_ferry_timetable", {"start": MARKER}),
    ("/documents/zz_ferry_timetable", {"start": "-1"}),
]
INVALID_FEEDBACK: list[dict[str, Any]] = [
    {"question": MARKER, "abstained": True, "answer": MARKER, "index_version": "v1",
     "helpful": True},
    {"question": MARKER, "abstained": False, "index_version": MARKER + "<>", "helpful": True},
    {"question": MARKER, "abstained": True, "index_version": "v1", "helpful": MARKER},
    {"question": MARKER, "abstained": True, "index_version": "v1", "helpful": True,
     "comment": MARKER * 200},
    {"question": MARKER, "abstained": True, "index_version": "v1", "helpful": True,
     "client_key": MARKER + "!"},
    {"question": MARKER, "abstained": False, "answer": "a", "doc_id": "d", "start": 5, "end": 1,
     "index_version": "v1", "helpful": True},
]


def test_a4_invalid_input_is_4xx_without_echo(api: Any, audit: ResponseAudit) -> None:
    responses = []
    for payload in INVALID_ASK:
        responses.append(httpx.post(api.url + "/v1/ask", json=payload, timeout=60))
    for content, content_type in RAW_BODIES:
        responses.append(httpx.post(api.url + "/v1/ask", content=content, timeout=60,
                                    headers={"content-type": content_type}))
    for path, params in INVALID_GETS:
        responses.append(httpx.get(api.url + path, params=params, timeout=60))
    for payload in INVALID_FEEDBACK:
        responses.append(httpx.post(api.url + "/v1/feedback", json=payload, timeout=60))
    leaks_before = len(audit.leaks)
    for response in responses:
        audit.check(response, marker=MARKER)
    not_4xx = [(r.request.url.path, r.status_code, r.request.content[:60]) for r in responses
               if not 400 <= r.status_code < 500]
    not_problem = [r.request.url.path for r in responses
                   if not r.headers["content-type"].startswith("application/problem+json")]
    echoes = [r.request.url.path for r in responses if MARKER in r.text]
    report(f"A4: {len(responses)} invalid inputs → {len(responses) - len(not_4xx)} 4xx "
           f"problem+json, {sum(r.status_code >= 500 for r in responses)} 5xx, "
           f"{len(echoes)} echoes")
    assert not_4xx == [] and not_problem == [] and echoes == []
    assert len(audit.leaks) == leaks_before
