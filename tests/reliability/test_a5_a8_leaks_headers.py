"""A5 and A8: faults injected at the model seam (every embedding call raises with internals in its
message) and in the index (missing, corrupt), plus every kind of response the service gives
(probes, metrics, static files, pages, docs, unknown routes and methods). Every response goes
through the session's audit (tests/reliability/audit.py): no internals or secrets in any error,
the security headers on all of them. The A5/A8 figures count every A-row response."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.wiring import open_engine
from tests.fake_encoder import HashingEncoder
from tests.service_helpers import running

from .audit import ResponseAudit
from .service_app import HASHING_DIM, hashing_settings, live_service

MARKER = "ZqX9marker"
SECRET = "a5-slack-signing-secret-9f8e7d6c"


class FailingEncoder:
    """The model seam, failing on demand with a message full of internals."""

    def __init__(self) -> None:
        self.inner = HashingEncoder(dim=HASHING_DIM)
        self.identity = self.inner.identity
        self.broken = False

    def encode(self, texts: list[str], *, progress: bool = False) -> Any:
        if self.broken:
            raise MemoryError(f"{MARKER} /secret/path/model.bin at 0x7f00 exploded")
        return self.inner.encode(texts, progress=progress)


def _sweep(url: str, audit: ResponseAudit, *, fault: bool) -> list[httpx.Response]:
    command = "text=When+was+the+MoU+signed%3F&response_url=https%3A%2F%2Fhooks.slack.com%2Fx"
    with httpx.Client(base_url=url, timeout=60) as c:
        responses = [
            c.post("/v1/ask", json={"question": f"{MARKER} ferry tickets?"}),
            c.get("/v1/search", params={"q": f"{MARKER} ferry"}),
            c.get("/v1/documents/zz_ferry_timetable"),
            c.get("/documents/zz_ferry_timetable", params={"start": 0, "end": 5}),
            c.post("/v1/feedback", json={"question": MARKER, "abstained": True,
                                         "index_version": "v1", "helpful": True}),
            c.post("/slack/commands", content=command,
                   headers={"content-type": "application/x-www-form-urlencoded"}),
            c.get("/healthz"), c.get("/readyz"), c.get("/metrics"), c.get("/"),
            c.get("/widget.js"), c.get("/page.css"), c.get("/openapi.json"), c.get("/docs"),
            c.get(f"/no/such/{MARKER}"), c.delete("/v1/ask"), c.put("/v1/feedback"),
            c.head("/healthz"), c.options("/v1/ask"),
        ]
    for response in responses:
        audit.check(response, marker=MARKER, fault=fault and response.status_code >= 400)
    return responses


def test_a5_model_failure_is_a_generic_500(hashing_index: Path, tmp_path: Path,
                                          audit: ResponseAudit) -> None:
    audit.secrets = (SECRET,)
    encoder = FailingEncoder()
    settings = lambda url: hashing_settings(  # noqa: E731
        hashing_index, tmp_path, slack_signing_secret=SECRET)
    with running(settings, lambda s: open_engine(s, encoder)) as live:
        healthy = _sweep(live.url, audit, fault=False)
        encoder.broken = True
        broken = _sweep(live.url, audit, fault=True)
    assert healthy[0].status_code == 200 and broken[0].status_code == 500
    assert broken[1].status_code == 500
    assert broken[0].json()["request_id"] == broken[0].headers["x-request-id"]
    assert all(r.status_code < 500 for r in healthy)


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a5_index_failure_is_a_generic_503(hashing_index: Path, tmp_path: Path,
                                          audit: ResponseAudit, damage: str) -> None:
    index_dir = tmp_path / "index"
    if damage == "corrupt":
        shutil.copytree(hashing_index, index_dir, ignore=shutil.ignore_patterns(".lock"))
        version = (index_dir / "CURRENT").read_text().split()[0]
        for file in sorted((index_dir / version).iterdir()):
            if file.is_file() and file.name != "manifest.json":
                file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with live_service(index_dir, tmp_path, wait_ready=False) as live:
        for _ in range(600):
            if httpx.get(live.url + "/readyz", timeout=60).json()["status"] != "loading":
                break
            time.sleep(0.05)
        responses = _sweep(live.url, audit, fault=True)
    assert responses[0].status_code == 503 and responses[7].status_code == 503
    assert all(str(tmp_path) not in r.text for r in responses)


def test_a5_the_audit_sees_a_leak() -> None:
    """The control: a response with internals and no headers is caught (so 0 is a measurement)."""
    control = ResponseAudit(secrets=(SECRET,))
    request = httpx.Request("GET", "http://127.0.0.1/v1/ask")
    control.check(httpx.Response(500, text=f'Traceback: File "/work/x.py", ValueError {SECRET}',
                                 request=request))
    assert len(control.leaks) == 1 and len(control.missing_headers) == 1


def test_a5_a8_no_leaks_and_headers_everywhere(audit: ResponseAudit) -> None:
    """Runs after the others in this file: the session audit so far, asserted."""
    assert audit.responses > 0
    assert audit.leaks == [], audit.leaks[:5]
    assert audit.missing_headers == [], audit.missing_headers[:5]
