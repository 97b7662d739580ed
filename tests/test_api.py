"""The JSON API through real HTTP against the real app under uvicorn, on a real index built with
the real model (see tests/service_fixtures.py)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from index.store import list_versions
from service.cli import main as cli_main
from tests.service_helpers import (
    HTTP_TIMEOUT,
    Q_CRAB,
    Q_FERRY,
    Q_MOU,
    SLACK_SECRET,
    engine_loader,
    http_get,
    http_post,
    make_settings,
    running,
    slack_headers,
)

pytest_plugins = ["tests.service_fixtures"]

ALLOWED_ORIGIN = "https://allowed.example"
MARKER = "ZqX9marker"
ANSWER_KEYS = {"question", "answer", "highlight", "abstained", "confidence", "citations",
               "conflicts", "index_version", "answer_model", "timings_ms"}
CITATION_KEYS = {"doc_id", "title", "url", "quote", "start", "end", "passage", "passage_start",
                 "passage_end", "score", "line", "section"}
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@pytest.fixture(scope="module")
def api(service_index: Path, shared_encoder: Any, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("api")
    settings = lambda url: make_settings(  # noqa: E731
        service_index, tmp, widget_origins=[ALLOWED_ORIGIN])
    with (running(settings, engine_loader(shared_encoder)) as live,
          httpx.Client(base_url=live.url, timeout=HTTP_TIMEOUT) as client):
        client.live = live  # type: ignore[attr-defined]
        yield client


def _ask(api: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _document_text(api: httpx.Client, doc_id: str) -> str:
    response = api.get(f"/v1/documents/{doc_id}")
    assert response.status_code == 200
    return response.json()["text"]


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and isinstance(body["detail"], str)
    assert "Traceback" not in response.text and ".py" not in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    return body


# ---- probes ------------------------------------------------------------------------------------

def test_health_and_ready(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["index_version"].startswith("v")
    assert ready.json()["answer_model"].startswith("citeqa-reader-")


def test_readyz_is_503_until_the_index_is_loaded(
    service_index: Path, shared_encoder: Any, tmp_path: Path
) -> None:
    release = threading.Event()
    load = engine_loader(shared_encoder)

    def slow_loader(settings: Any) -> Any:
        release.wait(30)  # the index "takes a while" to load
        return load(settings)

    with running(lambda url: make_settings(service_index, tmp_path), slow_loader,
                 wait_ready=False) as live:
        assert http_get(live.url + "/healthz").status_code == 200
        ready = http_get(live.url + "/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "loading"}
        busy = http_post(live.url + "/v1/ask", json={"question": Q_MOU})
        assert _assert_problem(busy, 503)["detail"] == "the index is still loading"
        assert busy.headers["retry-after"]
        release.set()
        live.wait_ready(30)
        assert http_post(live.url + "/v1/ask", json={"question": Q_MOU}).status_code == 200


def test_readyz_stays_503_when_the_index_is_missing(shared_encoder: Any, tmp_path: Path) -> None:
    empty = tmp_path / "no-index"
    with running(lambda url: make_settings(empty, tmp_path), engine_loader(shared_encoder),
                 wait_ready=False) as live:
        for _ in range(100):
            ready = http_get(live.url + "/readyz")
            if ready.json()["status"] != "loading":
                break
            threading.Event().wait(0.05)
        assert ready.status_code == 503 and ready.json() == {"status": "failed"}
        assert http_get(live.url + "/healthz").status_code == 200
        body = _assert_problem(http_post(live.url + "/v1/ask", json={"question": "x"}), 503)
        assert str(empty) not in json.dumps(body)  # no paths leak


# ---- answers -----------------------------------------------------------------------------------

def test_ask_returns_the_answer_contract(api: httpx.Client) -> None:
    body = _ask(api, Q_MOU, top_k=3)
    assert set(body) == ANSWER_KEYS  # debug only when asked for
    assert body["abstained"] is False and body["answer"]
    assert 0.0 <= body["confidence"] <= 1.0
    assert 1 <= len(body["citations"]) <= 3
    source = body["citations"][0]
    assert source["quote"] == body["answer"]
    h = body["highlight"]
    assert 0 <= h["start"] < h["end"] <= len(body["answer"])
    for citation in body["citations"] + body["conflicts"]:
        assert set(citation) == CITATION_KEYS
        text = _document_text(api, citation["doc_id"])
        assert text[citation["start"]:citation["end"]] == citation["quote"]
        assert text[citation["passage_start"]:citation["passage_end"]] == citation["passage"]
    assert set(body["timings_ms"]) >= {"embed", "retrieve", "score", "read", "answer", "total"}
    assert body["answer_model"] == api.get("/readyz").json()["answer_model"]


def test_ask_is_deterministic(api: httpx.Client) -> None:
    first, second = _ask(api, Q_MOU), _ask(api, "  When was the MoU between Liverpool and "
                                                  "Oxford   signed? ")
    first.pop("timings_ms"), second.pop("timings_ms")
    assert first == second


def test_offsets_count_code_points(api: httpx.Client) -> None:
    body = _ask(api, Q_CRAB)  # the answer sentence holds two emoji before the date
    assert "🦀" in body["answer"]
    h = body["highlight"]
    assert body["answer"][h["start"]:h["end"]] == "14 March 2031"
    c = body["citations"][0]
    assert _document_text(api, c["doc_id"])[c["start"]:c["end"]] == c["quote"]


def test_debug_adds_retriever_traces(api: httpx.Client) -> None:
    body = _ask(api, Q_FERRY, debug=True)
    assert body["debug"] and {"dense_rank", "bm25_rank", "fused_rank"} <= set(body["debug"][0])


def test_search_returns_passages_with_traces(api: httpx.Client) -> None:
    response = api.get("/v1/search", params={"q": "Schwarzman Centre", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "Schwarzman Centre" and len(body["hits"]) == 3
    for hit in body["hits"]:
        text = _document_text(api, hit["doc_id"])
        assert text[hit["passage_start"]:hit["passage_end"]] == hit["passage"]
        assert hit["trace"]["fused_rank"] >= 1


def test_document_endpoint(api: httpx.Client) -> None:
    body = api.get("/v1/documents/zz_ferry_timetable").json()
    assert body["url"] == "https://example.org/ferry-timetable"
    assert body["text"].startswith("Widnes ferry timetable")
    _assert_problem(api.get("/v1/documents/no_such_doc"), 404)
    bad = api.get(f"/v1/documents/{MARKER}%3Cscript%3E")
    assert MARKER not in _assert_problem(bad, 422) and MARKER not in bad.text


def test_document_as_of_an_index_version(api: httpx.Client) -> None:
    index_dir = api.live.settings.index_dir  # type: ignore[attr-defined]
    served = api.get("/readyz").json()["index_version"]
    older = [v for v in list_versions(index_dir) if v < served]
    assert older  # the seed index's version, before the extra documents were ingested
    doc = "001_cee6b474e733bd54"
    assert api.get(f"/v1/documents/{doc}", params={"version": served}).json() == api.get(
        f"/v1/documents/{doc}").json()
    then = api.get(f"/v1/documents/{doc}", params={"version": older[0]})
    assert then.status_code == 200, then.text
    assert then.json()["index_version"] == older[0]
    assert then.json()["text"] == _document_text(api, doc)  # the seeds did not change
    _assert_problem(api.get("/v1/documents/zz_ferry_timetable",
                            params={"version": older[0]}), 404)  # added in a later version
    for never in ("v000000-abcdef", "v999999-abcdef"):  # 410 is for collected versions only
        _assert_problem(api.get(f"/v1/documents/{doc}", params={"version": never}), 404)
    for malformed in ("latest", "v1", "../" + served, served + "0", f"{MARKER}"):
        bad = api.get(f"/v1/documents/{doc}", params={"version": malformed})
        assert MARKER not in _assert_problem(bad, 422) and MARKER not in bad.text
    schema = api.get("/openapi.json").json()["paths"]["/v1/documents/{doc_id}"]["get"]
    assert {"404", "410", "422"} <= set(schema["responses"])
    assert any(p["name"] == "version" for p in schema["parameters"])


# Invalid input (A4), body limits (A3), CORS (A6), security headers (A8) and rate limits (A7) are
# tested at matrix size in tests/reliability/test_a*.py.


# ---- feedback ----------------------------------------------------------------------------------

def _reference(answer: dict[str, Any]) -> dict[str, Any]:
    source = None if answer["abstained"] else answer["citations"][0]
    return {
        "question": answer["question"], "answer": answer["answer"],
        "abstained": answer["abstained"], "index_version": answer["index_version"],
        "doc_id": source and source["doc_id"], "start": source and source["start"],
        "end": source and source["end"],
    }


def test_feedback_is_stored_and_exported(
    api: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = _ask(api, Q_CRAB)
    ref = _reference(answer)
    first = api.post("/v1/feedback", json={**ref, "helpful": True, "client_key": "key-12345678"})
    assert first.status_code == 201, first.text
    again = api.post("/v1/feedback", json={**ref, "helpful": True, "client_key": "key-12345678",
                                           "comment": "exactly the date"})
    assert again.json() == first.json()  # same key: one judgement, now with a comment
    other = api.post("/v1/feedback", json={**ref, "helpful": False})
    assert other.status_code == 201 and other.json()["answer_id"] == first.json()["answer_id"]
    assert api.post("/v1/feedback", json={**ref, "helpful": True}).status_code == 201

    abstained = {"question": "What is the airspeed of a swallow?", "answer": None,
                 "abstained": True, "index_version": answer["index_version"], "helpful": True}
    assert api.post("/v1/feedback", json=abstained).status_code == 201

    _assert_problem(api.post("/v1/feedback", json={**ref, "abstained": True, "helpful": True}),
                    422)
    _assert_problem(api.post("/v1/feedback", json={**ref, "doc_id": "no_such_doc",
                                                   "helpful": True}), 422)
    _assert_problem(api.post("/v1/feedback", json={**ref, "helpful": True,
                                                   "comment": MARKER * 200}), 422)

    out = tmp_path / "candidates.jsonl"
    db = api.live.settings.feedback_db  # type: ignore[attr-defined]
    monkeypatch.setenv("CITEQA_FEEDBACK_DB", str(db))
    assert cli_main(["feedback", "export", "--out", str(out)]) == 0
    assert "exported 2 candidate(s)" in capsys.readouterr().err
    rows = {row["question"]: row for row in map(json.loads, out.read_text().splitlines())}
    crab = rows[answer["question"]]
    assert crab["answers"] == [answer["answer"]] and crab["docs"] == ["zz_harbour_notice"]
    assert crab["review"]["helpful"] == 2 and crab["review"]["not_helpful"] == 1
    assert crab["review"]["comments"] == ["exactly the date"]
    assert set(crab) == {"id", "question", "answers", "docs", "kind", "split", "review"}
    swallow = rows["What is the airspeed of a swallow?"]
    assert swallow["kind"] == "unanswerable" and swallow["answers"] == []


# ---- metrics, logs, OpenAPI, static ------------------------------------------------------------

def test_metrics_in_prometheus_format(api: httpx.Client) -> None:
    _ask(api, Q_FERRY)
    response = api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/plain; version=")
    text = response.text
    version = api.get("/readyz").json()["index_version"]
    assert f'citeqa_index_info{{version="{version}"}} 1.0' in text
    assert 'citeqa_http_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'citeqa_http_request_duration_seconds_bucket{le="0.1",route="/v1/ask"}' in text
    for stage in ("queue", "embed", "retrieve", "score", "read", "answer", "total"):
        assert f'citeqa_answer_stage_seconds_count{{stage="{stage}"}}' in text
    assert 'citeqa_answers_total{channel="http",outcome="answered"}' in text
    assert "citeqa_abstention_rate " in text and "citeqa_ready 1.0" in text


def test_one_structured_log_line_per_request(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="citeqa.access"):
        response = api.post("/v1/ask", json={"question": f"{MARKER} ferry tickets"})
        request_id = response.headers["x-request-id"]
        for _ in range(100):  # the line is written just after the response is sent
            lines = [json.loads(r.getMessage()) for r in caplog.records
                     if r.name == "citeqa.access"]
            mine = [line for line in lines if line["request_id"] == request_id]
            if mine:
                break
            threading.Event().wait(0.02)
    assert len(mine) == 1
    assert mine[0]["route"] == "/v1/ask" and mine[0]["status"] == 200 and mine[0]["ms"] > 0
    assert MARKER not in caplog.text  # questions are not logged


def test_openapi_schema_has_limits_and_examples(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    assert {"/v1/ask", "/v1/search", "/v1/documents/{doc_id}", "/v1/feedback", "/healthz",
            "/readyz", "/metrics", "/slack/commands", "/slack/interactions"} <= set(schema["paths"])
    ask = schema["components"]["schemas"]["AskRequest"]
    assert ask["properties"]["question"]["maxLength"] == 1000
    assert ask["examples"] and ask["additionalProperties"] is False
    ask_op = schema["paths"]["/v1/ask"]["post"]
    assert "application/problem+json" in ask_op["responses"]["422"]["content"]
    assert "Answer" in json.dumps(ask_op["responses"]["200"])


def test_demo_page_widget_and_document_view(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/widget.js" async></script>' in page.text
    widget = api.get("/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript")
    assert widget.headers["cross-origin-resource-policy"] == "cross-origin"
    answer = _ask(api, "What is the lighthouse keeper's secret phrase?")
    c = answer["citations"][0]
    view = api.get(f"/documents/{c['doc_id']}", params={"start": c["start"], "end": c["end"]})
    assert view.status_code == 200
    assert "script-src" not in view.headers["content-security-policy"]  # no script at all
    assert "<img" not in view.text and "&lt;img src=x onerror=" in view.text
    assert '<mark id="quote">The lighthouse keeper&#x27;s secret phrase' in view.text
    assert "javascript:" not in view.text  # the document's javascript: URL is not linked


def test_slack_routes_are_off_without_a_signing_secret(api: httpx.Client) -> None:
    _assert_problem(api.post("/slack/commands", content="text=hi"), 404)


class FailingEncoder:
    """Fault injection at the model seam: the real encoder until ``broken`` is set, then every
    call fails with a message that must never reach a client."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.identity, self.broken = inner, inner.identity, False

    def encode(self, texts: list[str], *, progress: bool = False) -> Any:
        if self.broken:
            raise RuntimeError(f"{MARKER} /secret/path/model.bin exploded")
        return self.inner.encode(texts, progress=progress)


def test_unexpected_errors_are_generic_500s(
    service_index: Path, shared_encoder: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = lambda url: make_settings(  # noqa: E731
        service_index, tmp_path, slack_signing_secret=SLACK_SECRET)
    encoder = FailingEncoder(shared_encoder)
    with running(settings, engine_loader(encoder)) as live:
        encoder.broken = True
        response = http_post(live.url + "/v1/ask", json={"question": Q_MOU})
        body = _assert_problem(response, 500)
        assert body["request_id"] == response.headers["x-request-id"]
        assert MARKER not in response.text and "RuntimeError" not in response.text
        assert "/secret" not in response.text
        command = "text=" + Q_MOU.replace(" ", "+") + "&response_url=https%3A%2F%2Fh%2Fx"
        slack = http_post(live.url + "/slack/commands", content=command,
                           headers=slack_headers(command))
        assert slack.status_code == 200 and "Something went wrong" in slack.json()["text"]
        assert MARKER not in slack.text
    assert MARKER in caplog.text  # the details are in the server log instead


def test_cli_registers_serve_and_feedback_verbs() -> None:
    from service.cli import build_parser

    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port, args.func.__name__) == ("0.0.0.0", 9000, "cmd_serve")
    args = build_parser().parse_args(["feedback", "export", "--out", "x.jsonl"])
    assert (args.out, args.func.__name__) == ("x.jsonl", "cmd_export")
