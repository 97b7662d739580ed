"""A9 Slack signatures and A10 mrkdwn injection, through real uvicorn with the real model and
slack_sdk signing. Every malformed or forged request to either endpoint is a 401 problem+json
(never a 5xx, never accepted); an oversized one is a 413; valid ones are answered 200 well within
Slack's 3 s; no question or corpus text can ping anyone or make a link."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_helpers import (
    Q_CRAB,
    Q_FERRY,
    Q_MOU,
    Q_XSS,
    SLACK_SECRET,
    SlackReceiver,
    engine_loader,
    running,
    slack_headers,
)
from tests.slack_helpers import (
    assert_no_live_markup,
    assert_valid_message,
    command_body,
    inline_slack_settings,
    malformed_requests,
)

from .audit import ResponseAudit
from .common import FULL, report

pytest_plugins = ["tests.service_fixtures"]

SLACK_ACK_MS = 3000
VALID_ROUNDS = 8 if FULL else 1
INJECTIONS = [
    "<!channel>", "<!here>", "<!everyone>", "<@U012ABC>", "<@W123|boss>", "<#C024BE91L>",
    "<!subteam^SAZ94GDB8>", "<!date^1392734382^{date}|Feb 18>", "<https://evil.example|click>",
    "<mailto:a@evil.example|mail>", "<javascript:alert(1)|x>", "&lt;!channel&gt;", "&amp;",
    "*bold* _it_ ~strike~ `code`", "```block```", "> quote", "<!channel|x>", "<<!here>>",
    "<@U1><@U2>", "\u003c!channel\u003e", "<!here&gt;", "&#60;!channel&#62;",
]


@pytest.fixture(scope="module")
def slack(service_index: Path, shared_encoder: Any, slack_receiver: SlackReceiver,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("a9")
    settings_for = inline_slack_settings(service_index, tmp, slack_receiver)
    with running(settings_for, engine_loader(shared_encoder)) as live:
        yield live


def _post(live: Any, path: str, body: str | bytes, headers: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(live.url + path, content=body, headers=headers, timeout=60)
    return response, (time.perf_counter() - started) * 1000


def _valid_requests(receiver: SlackReceiver) -> list[tuple[str, str, int]]:
    """(path, body, timestamp offset): signed when sent, so a slow run stays inside the window."""
    out = []
    for question in (Q_MOU, Q_CRAB, Q_FERRY, Q_XSS, "help", "") * VALID_ROUNDS:
        out.append(("/slack/commands", command_body(question, receiver.url("/a9")), 0))
    for offset in (-290, 290):  # inside the 300 s window, with room for a slow machine
        out.append(("/slack/commands", command_body("help", receiver.url("/a9")), offset))
    for payload in ({"type": "view_submission"}, {"type": "shortcut"}, {
            "type": "block_actions", "user": {"id": "U1", "team_id": "T1"},
            "response_url": receiver.url("/a9"),
            "actions": [{"action_id": "citeqa_helpful", "value": "0" * 24}]}):
        body = str(httpx.QueryParams({"payload": json.dumps(payload)}))
        out.append(("/slack/interactions", body, 0))
    return out


def test_a9_signatures(slack: Any, slack_receiver: SlackReceiver, audit: ResponseAudit) -> None:
    audit.secrets = (SLACK_SECRET,)
    malformed: list[tuple[str, str, int]] = []
    for path in ("/slack/commands", "/slack/interactions"):
        for label, body, headers in malformed_requests():  # fresh timestamps per endpoint
            raw = [(name, value.encode("utf-8")) for name, value in headers]
            response, _ = _post(slack, path, body, raw)
            audit.check(response)
            malformed.append((path, label, response.status_code))
    oversized = command_body("x" * slack.settings.slack_max_body_bytes, "https://h/x")
    big, _ = _post(slack, "/slack/commands", oversized, slack_headers(oversized))
    audit.check(big)
    valid = []
    for path, body, offset in _valid_requests(slack_receiver):
        headers = slack_headers(body, ts=int(time.time()) + offset)
        response, ms = _post(slack, path, body, headers)
        audit.check(response)
        valid.append((path, response.status_code, ms))
    slack_receiver.drain(0.5)
    times = sorted(ms for _, _, ms in valid)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    n = len(malformed)
    report(f"A9: {n} malformed/forged ({n // 2} variants × 2 endpoints) → "
           f"{sum(c == 401 for *_, c in malformed)}×401, {sum(c >= 500 for *_, c in malformed)}"
           f"×5xx, {sum(c < 400 for *_, c in malformed)} accepted; oversized → {big.status_code};"
           f" {len(valid)} valid → {sum(c == 200 for _, c, _ in valid)}×200, p99 {p99:.0f} ms "
           f"(max {times[-1]:.0f} ms, real model)")
    assert n // 2 >= 40
    assert [m for m in malformed if m[2] != 401] == []
    assert big.status_code == 413
    assert all(code == 200 for _, code, _ in valid)
    assert times[-1] < SLACK_ACK_MS


def test_a10_mrkdwn_injection(slack: Any, slack_receiver: SlackReceiver,
                              audit: ResponseAudit) -> None:
    questions = [f"{Q_XSS} {p}" for p in INJECTIONS] + [f"{p} ferry tickets {p}"
                                                         for p in INJECTIONS]
    live_markup: list[str] = []
    not_ephemeral = 0
    for question in questions:
        body = command_body(question, slack_receiver.url("/a10"))
        response, _ = _post(slack, "/slack/commands", body, slack_headers(body))
        audit.check(response)
        assert response.status_code == 200
        message = response.json()
        not_ephemeral += message.get("response_type") != "ephemeral"
        try:
            assert_valid_message(message)
            assert_no_live_markup(message, (slack.url,))
        except AssertionError as exc:
            live_markup.append(f"{question!r}: {exc}")
    slack_receiver.drain(0.5)
    report(f"A10: {len(INJECTIONS)} mrkdwn payloads in {len(questions)} questions (plus the "
           f"corpus's <!here>, <!channel>, <@U…> and <https://…|…>) → {len(live_markup)} live "
           f"mentions/links, {not_ephemeral} non-ephemeral replies")
    assert live_markup == [] and not_ephemeral == 0
