"""Slack: signed requests (slack_sdk's SignatureVerifier), Block Kit checked with slack_sdk's
models, and response_url posts received by a real local HTTP server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retriever.schema import Answer, Citation, Highlight
from service.slack_blocks import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    ACTION_SHARE,
    answer_message,
    escape_mrkdwn,
    fit,
)
from service.slack_post import PostBudget
from tests.service_fixtures import ALWAYS_ABSTAIN
from tests.service_helpers import (
    Q_FERRY,
    Q_MOU,
    Q_POPULATION,
    Q_XSS,
    SLACK_SECRET,
    SlackReceiver,
    engine_loader,
    http_get,
    http_post,
    make_settings,
    running,
    slack_headers,
)
from tests.slack_helpers import (
    assert_no_live_markup,
    assert_valid_message,
    command_body,
    inline_slack_settings,
    mrkdwn_texts,
)

pytest_plugins = ["tests.service_fixtures"]

ACK_LIMIT_S = 3.0


@pytest.fixture(scope="module")
def slack(service_index: Path, shared_encoder: Any, slack_receiver: SlackReceiver,
          tmp_path_factory: pytest.TempPathFactory):
    """The service answering inline (the default), with public_url set for document links."""
    tmp = tmp_path_factory.mktemp("slack")
    settings_for = inline_slack_settings(service_index, tmp, slack_receiver)
    with running(settings_for, engine_loader(shared_encoder)) as live:
        yield live


@pytest.fixture(scope="module")
def slack_deferred(service_index: Path, shared_encoder: Any, slack_receiver: SlackReceiver,
                   tmp_path_factory: pytest.TempPathFactory):
    """The service configured to never answer inline (ack, then post to response_url), with a
    scoring model whose threshold makes every question abstain."""
    tmp = tmp_path_factory.mktemp("slack-deferred")
    settings_for = lambda url: make_settings(  # noqa: E731
        service_index, tmp, slack_signing_secret=SLACK_SECRET, slack_inline_ms=0,
        **ALWAYS_ABSTAIN,
        slack_response_url_prefixes=[slack_receiver.url("/")])
    with running(settings_for, engine_loader(shared_encoder)) as live:
        yield live


def _send(live: Any, path: str, body: str | bytes, headers: dict[str, str]) -> httpx.Response:
    return http_post(live.url + path, content=body, headers=headers)


def _command(live: Any, text: str, response_url: str) -> tuple[httpx.Response, float]:
    body = command_body(text, response_url)
    started = time.perf_counter()
    response = _send(live, "/slack/commands", body, slack_headers(body))
    return response, time.perf_counter() - started


def _action_values(message: dict[str, Any]) -> dict[str, str]:
    for block in message["blocks"]:
        if block["type"] == "actions":
            return {e["action_id"]: e["value"] for e in block["elements"]}
    return {}


# ---- the slash command -------------------------------------------------------------------------

def test_command_answers_inline_within_three_seconds(slack: Any, slack_receiver: Any) -> None:
    response, elapsed = _command(slack, Q_MOU, slack_receiver.url("/inline"))
    assert response.status_code == 200 and elapsed < ACK_LIMIT_S
    message = response.json()
    assert message["response_type"] == "ephemeral"
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert_valid_message(message)
    assert_no_live_markup(message, (slack.url,))
    texts = "\n".join(mrkdwn_texts(message))
    assert "February 19, 2026" in texts and "*February 19, 2026*" in texts  # the highlight
    assert f"<{slack.url}/documents/" in texts  # the citation links to the document view
    assert re.search(r"> · (§ [^\n]+, )?line \d+", texts)  # and says where the quote is
    assert set(_action_values(message)) == {ACTION_HELPFUL, ACTION_NOT_HELPFUL, ACTION_SHARE}
    assert slack_receiver.drain(0.2) == []  # nothing posted: the answer came inline


def test_corpus_markup_is_escaped_and_pings_nobody(slack: Any, slack_receiver: Any) -> None:
    question = f"{Q_XSS} <!channel> <@U999> & <https://evil.example|x>"
    response, _ = _command(slack, question, slack_receiver.url("/escape"))
    message = response.json()
    assert_valid_message(message)
    assert_no_live_markup(message, (slack.url,))
    texts = "\n".join(mrkdwn_texts(message))
    assert "&lt;!channel&gt;" in texts and "&lt;@U012ABC&gt;" in texts
    # The highlight (*bold*) may fall anywhere in the quote, even inside the markup it quotes.
    unmarked = texts.replace("*", "")
    assert "&lt;img src=x onerror=" in unmarked and "&amp; more" in unmarked
    assert "keeper's" in texts and "&#39;" not in texts and "&quot;" not in texts  # only & < >


def test_sources_differ_in_slack(slack: Any, slack_receiver: Any) -> None:
    response, _ = _command(slack, Q_FERRY, slack_receiver.url("/ferry"))
    message = response.json()
    assert_valid_message(message)
    answer = http_post(slack.url + "/v1/ask", json={"question": Q_FERRY}).json()
    texts = "\n".join(mrkdwn_texts(message))
    assert ("Sources differ" in texts) == bool(answer["conflicts"])
    # A document whose URL is javascript: is linked through the document view instead.
    assert "javascript:" not in json.dumps(message)
    assert "https://example.org/ferry-timetable#:~:text=" in texts


def test_help_and_ssl_check(slack: Any) -> None:
    body = command_body("", "https://hooks.slack.com/x")
    usage = _send(slack, "/slack/commands", body, slack_headers(body))
    assert usage.status_code == 200 and usage.json()["response_type"] == "ephemeral"
    assert "Ask a question" in usage.json()["text"]
    ping = _send(slack, "/slack/commands", "ssl_check=1&token=abc",
                 {"content-type": "application/x-www-form-urlencoded"})
    assert ping.status_code == 200 and ping.content == b""


def test_deferred_command_acks_then_posts_to_response_url(
    slack_deferred: Any, slack_receiver: SlackReceiver
) -> None:
    slack_receiver.drain(0)
    response, elapsed = _command(slack_deferred, Q_POPULATION, slack_receiver.url("/deferred"))
    assert response.status_code == 200 and elapsed < ACK_LIMIT_S
    assert response.json() == {"response_type": "ephemeral", "text": "Searching the documents…"}
    posts = slack_receiver.wait(1)
    assert len(posts) == 1
    path, headers, message = posts[0]
    assert path == "/deferred" and headers["content-type"] == "application/json"
    assert message["replace_original"] is True and message["response_type"] == "ephemeral"
    assert_valid_message(message)
    assert_no_live_markup(message)
    texts = "\n".join(mrkdwn_texts(message))
    assert "*Not in the documents.*" in texts and "Related passages" in texts
    assert message["text"] == "Not in the documents."
    assert ACTION_SHARE not in _action_values(message)  # nothing to share


def test_response_url_outside_the_allowed_prefix_is_not_posted(
    slack_deferred: Any, slack_receiver: SlackReceiver
) -> None:
    slack_receiver.drain(0)
    response, _ = _command(slack_deferred, Q_MOU, "http://127.0.0.1:9/elsewhere")
    assert response.status_code == 200
    time.sleep(1.0)
    metrics = http_get(slack_deferred.url + "/metrics").text
    assert 'citeqa_slack_response_url_posts_total{outcome="refused_url"} 1.0' in metrics


# ---- buttons -----------------------------------------------------------------------------------

def _interaction(live: Any, action_id: str, value: str, response_url: str,
                 user: str = "U2147483697") -> httpx.Response:
    payload = {
        "type": "block_actions", "user": {"id": user, "team_id": "T0001"},
        "team": {"id": "T0001"}, "api_app_id": "A123456", "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "citeqa_actions", "value": value,
                     "type": "button", "action_ts": "1700000000.000"}],
        "container": {"type": "message", "is_ephemeral": True},
    }
    body = urlencode({"payload": json.dumps(payload)})
    return _send(live, "/slack/interactions", body, slack_headers(body))


def test_feedback_and_share_buttons(slack: Any, slack_receiver: SlackReceiver) -> None:
    response, _ = _command(slack, Q_MOU, slack_receiver.url("/cmd"))
    values = _action_values(response.json())
    slack_receiver.drain(0)

    started = time.perf_counter()
    clicked = _interaction(slack, ACTION_HELPFUL, values[ACTION_HELPFUL],
                           slack_receiver.url("/click-1"))
    assert clicked.status_code == 200 and time.perf_counter() - started < ACK_LIMIT_S
    (path, _, updated), = slack_receiver.wait(1)
    assert path == "/click-1" and updated["replace_original"] is True
    assert_valid_message(updated)
    texts = "\n".join(mrkdwn_texts(updated))
    assert "Thanks — you marked this answer helpful." in texts
    assert _action_values(updated) == {}  # the buttons are replaced by the thank-you line

    assert _interaction(slack, ACTION_SHARE, values[ACTION_SHARE],
                        slack_receiver.url("/click-2")).status_code == 200
    (path, _, shared), = slack_receiver.wait(1)
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False
    assert_valid_message(shared)
    assert "Shared by <@U2147483697>" in "\n".join(mrkdwn_texts(shared))
    assert _action_values(shared) == {}

    from service.feedback import FeedbackStore

    store = FeedbackStore(slack.settings.feedback_db)
    try:
        rows = [r for r in store.rows() if r["channel"] == "slack"]
    finally:
        store.close()
    assert len(rows) == 1 and rows[0]["helpful"] == 1 and rows[0]["answer_id"] == values[
        ACTION_HELPFUL]


def test_at_most_five_posts_per_response_url(slack: Any, slack_receiver: SlackReceiver) -> None:
    response, _ = _command(slack, Q_FERRY, slack_receiver.url("/cmd"))
    value = _action_values(response.json())[ACTION_NOT_HELPFUL]
    slack_receiver.drain(0)
    for _ in range(7):
        assert _interaction(slack, ACTION_NOT_HELPFUL, value,
                            slack_receiver.url("/budget")).status_code == 200
    posts = slack_receiver.drain(1.5)
    assert [p[0] for p in posts] == ["/budget"] * 5


def test_expired_or_unknown_answer_id(slack: Any, slack_receiver: SlackReceiver) -> None:
    slack_receiver.drain(0)
    assert _interaction(slack, ACTION_SHARE, "0" * 24,
                        slack_receiver.url("/expired")).status_code == 200
    (path, _, message), = slack_receiver.wait(1)
    assert "expired" in message["text"] and message["response_type"] == "ephemeral"


def test_interaction_payload_problems(slack: Any) -> None:
    body = urlencode({"payload": "{not json"})
    assert _send(slack, "/slack/interactions", body, slack_headers(body)).status_code == 400
    body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})
    assert _send(slack, "/slack/interactions", body, slack_headers(body)).status_code == 400
    body = urlencode({"payload": json.dumps({"type": "view_submission"})})
    assert _send(slack, "/slack/interactions", body, slack_headers(body)).status_code == 200
    unsigned = _send(slack, "/slack/interactions", body,
                     {"content-type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401


# ---- signature verification --------------------------------------------------------------------

# Malformed and forged signatures, valid ones at the window's edge and oversized bodies (A9) are
# tested at matrix size in tests/reliability/test_a9_a10_slack.py.


_header_chars = st.characters(codec="latin-1", exclude_categories=("Cc", "Zs"))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    timestamp=st.text(_header_chars, max_size=30),
    signature=st.text(_header_chars, max_size=90),
    body=st.binary(max_size=300),
)
def test_random_headers_and_bodies_are_401(slack: Any, timestamp: str, signature: str,
                                          body: bytes) -> None:
    headers = [("content-type", "application/x-www-form-urlencoded"),
               ("x-slack-request-timestamp", timestamp), ("x-slack-signature", signature)]
    response = http_post(slack.url + "/slack/commands", content=body,
                          headers=[(k, v.encode("latin-1")) for k, v in headers])
    # ssl_check pings are answered without a signature, as Slack sends them; nothing else passes.
    assert response.status_code == 401 or (response.status_code == 200
                                           and b"ssl_check=1" in body and not response.content)


# ---- Block Kit renderer (properties over hostile text) -----------------------------------------

_hostile = st.lists(
    st.sampled_from(list("ab <>&|*_~`\n!@#🦀") + ["<!channel>", "<@U1>", "<https://x|y>", "&amp;",
                                                   "word " * 40]),
    max_size=400,
).map("".join)


def _citation(quote: str, title: str, url: str | None) -> Citation:
    return Citation(doc_id="doc_1", title=title or "t", url=url, quote=quote, start=0,
                    end=len(quote), passage=quote, passage_start=0, passage_end=len(quote),
                    score=0.5)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(question=_hostile, answer=_hostile, title=_hostile, abstained=st.booleans(),
       url=st.sampled_from([None, "https://example.org/a b|c>d", "javascript:alert(1)"]))
def test_blocks_stay_valid_and_inert_for_any_text(question: str, answer: str, title: str,
                                                 abstained: bool, url: str | None) -> None:
    text = answer or "x"
    citations = [_citation(text, title, url) for _ in range(5)]
    model = Answer(
        question=question or "q", answer=None if abstained else text,
        highlight=None if abstained else Highlight(start=0, end=min(3, len(text))),
        abstained=abstained, confidence=0.5, citations=citations,
        conflicts=[] if abstained else citations[:3], index_version="v1", timings_ms={},
    )
    message = answer_message(model, "a" * 24, "https://citeqa.example")
    assert_valid_message(message)
    assert_no_live_markup(message, ("https://citeqa.example/",))


@given(st.text(max_size=500), st.integers(min_value=0, max_value=600))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_fit_escapes_exactly_three_characters(text: str, limit: int) -> None:
    out = fit(text, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
    if len(escape_mrkdwn(text)) <= limit:
        assert out == escape_mrkdwn(text)
        unescaped = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert unescaped == text


def test_post_budget_counts_per_url() -> None:
    budget = PostBudget(5, 1800)
    assert [budget.take("u1") for _ in range(6)] == [True] * 5 + [False]
    assert budget.take("u2")
