"""Slack request and message helpers shared by tests/test_slack.py and the A9/A10 reliability
tests: slash-command bodies, Block Kit validity and inertness checks, and the malformed and forged
requests every Slack endpoint must refuse with 401."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from service.settings import Settings
from tests.service_helpers import Q_MOU, SLACK_SECRET, SlackReceiver, make_settings, slack_headers

MENTION = re.compile(r"<[!@#]")  # <!channel>, <!here>, <@U…>, <#C…> would ping or link


def inline_slack_settings(index_dir: Path, tmp: Path,
                          receiver: SlackReceiver) -> Callable[[str], Settings]:
    """Settings for a service that answers Slack inline (the default), links documents through
    its own URL, and may post only to ``receiver``."""
    return lambda url: make_settings(
        index_dir, tmp, slack_signing_secret=SLACK_SECRET, public_url=url,
        slack_response_url_prefixes=[receiver.url("/")])


def command_body(text: str, response_url: str, **extra: str) -> str:
    fields = {
        "token": "deprecated", "team_id": "T0001", "team_domain": "example",
        "channel_id": "C2147483705", "channel_name": "general", "user_id": "U2147483697",
        "user_name": "steve", "command": "/ask", "text": text, "response_url": response_url,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0", "api_app_id": "A123456",
    }
    fields.update(extra)
    return urlencode(fields)


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    for block in message.get("blocks", []):
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def assert_valid_message(message: dict[str, Any]) -> None:
    """Parse every block back with slack_sdk's Block Kit models and check Slack's limits."""
    assert message["text"], "top-level text is the notification fallback"
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()  # raises SlackObjectFormationError past a limit
        assert block.to_dict() == raw
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= 3000
        if raw["type"] == "context":
            assert len(raw["elements"]) <= 10
        if raw["type"] == "actions":
            assert len(raw["elements"]) <= 25
            for element in raw["elements"]:
                assert len(element["value"]) <= 2000 and len(element["action_id"]) <= 255
                assert len(element["text"]["text"]) <= 75
    assert sum(len(t) for t in mrkdwn_texts(message)) <= 10_000
    assert len(json.dumps(message)) < 40_000


def assert_no_live_markup(message: dict[str, Any], base_urls: tuple[str, ...] = ()) -> None:
    """Corpus text cannot ping anyone or create a link: the only <…> tokens are our own links."""
    for text in mrkdwn_texts(message) + [message["text"]]:
        assert not MENTION.search(text), text
        for token in re.findall(r"<([^>]*)>", text):
            assert token.startswith(("http://", "https://")) and "|" in token, text
            assert token.startswith(base_urls) or token.startswith("https://example.org/"), text


def malformed_requests() -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    body = command_body(Q_MOU, "https://hooks.slack.com/commands/1/2/3")
    raw = body.encode()
    now = int(time.time())
    good = slack_headers(body, ts=now)
    ts, sig = good["x-slack-request-timestamp"], good["x-slack-signature"]
    form = [("content-type", "application/x-www-form-urlencoded")]

    def signed(ts_value: str, body_text: str = body, secret: str = SLACK_SECRET) -> str:
        return SignatureVerifier(secret).generate_signature(timestamp=ts_value, body=body_text)

    cases: list[tuple[str, bytes, list[tuple[str, str]]]] = [
        ("no headers", raw, form),
        ("no timestamp", raw, form + [("x-slack-signature", sig)]),
        ("no signature", raw, form + [("x-slack-request-timestamp", ts)]),
        ("wrong secret", raw, form + [("x-slack-request-timestamp", ts),
                                      ("x-slack-signature", signed(ts, secret="other-secret"))]),
        ("body + 1 byte", raw + b"x", form + [("x-slack-request-timestamp", ts),
                                               ("x-slack-signature", sig)]),
        ("body - 1 byte", raw[:-1], form + [("x-slack-request-timestamp", ts),
                                             ("x-slack-signature", sig)]),
        ("tampered text", raw.replace(b"MoU", b"MOU"), form + [
            ("x-slack-request-timestamp", ts), ("x-slack-signature", sig)]),
        ("empty body", b"", form + [("x-slack-request-timestamp", ts),
                                    ("x-slack-signature", sig)]),
        ("v1 prefix", raw, form + [("x-slack-request-timestamp", ts),
                                   ("x-slack-signature", "v1=" + sig[3:])]),
        ("no prefix", raw, form + [("x-slack-request-timestamp", ts),
                                   ("x-slack-signature", sig[3:])]),
        ("upper-case hex", raw, form + [("x-slack-request-timestamp", ts),
                                        ("x-slack-signature", "v0=" + sig[3:].upper())]),
        ("truncated signature", raw, form + [("x-slack-request-timestamp", ts),
                                             ("x-slack-signature", sig[:-1])]),
        ("empty signature", raw, form + [("x-slack-request-timestamp", ts),
                                         ("x-slack-signature", "")]),
        ("bare v0=", raw, form + [("x-slack-request-timestamp", ts),
                                  ("x-slack-signature", "v0=")]),
        ("overlong signature", raw, form + [("x-slack-request-timestamp", ts),
                                            ("x-slack-signature", "v0=" + "ab" * 500)]),
        ("non-ASCII signature", raw, form + [("x-slack-request-timestamp", ts),
                                             ("x-slack-signature", "v0=" + "é" * 64)]),
        ("duplicate signature", raw, form + [("x-slack-request-timestamp", ts),
                                             ("x-slack-signature", sig),
                                             ("x-slack-signature", sig)]),
        ("duplicate timestamp", raw, form + [("x-slack-request-timestamp", ts),
                                             ("x-slack-request-timestamp", ts),
                                             ("x-slack-signature", sig)]),
        ("non-UTF-8 body", raw + b"%ff\xff\xfe", form + [
            ("x-slack-request-timestamp", ts), ("x-slack-signature", sig)]),
        ("signature of another body", raw, form + [
            ("x-slack-request-timestamp", ts),
            ("x-slack-signature", signed(ts, body_text=body.replace("MoU", "deal")))]),
        ("signature of another timestamp", raw, form + [
            ("x-slack-request-timestamp", ts), ("x-slack-signature", signed(str(now - 1)))]),
        ("one hex digit more", raw, form + [("x-slack-request-timestamp", ts),
                                            ("x-slack-signature", sig + "0")]),
        ("upper-case V0 prefix", raw, form + [("x-slack-request-timestamp", ts),
                                              ("x-slack-signature", "V0=" + sig[3:])]),
        ("SHA-1 length", raw, form + [("x-slack-request-timestamp", ts),
                                      ("x-slack-signature", "v0=" + sig[3:43])]),
        ("hex of the secret", raw, form + [("x-slack-request-timestamp", ts),
                                           ("x-slack-signature", "v0=" + SLACK_SECRET)]),
    ]
    for label, ts_value in [
        # ±360 s rather than ±301: a case is sent up to a minute after it is built on a loaded
        # machine; the exact window edge is covered by the valid ±290 s requests below.
        ("stale 360 s", str(now - 360)), ("future 360 s", str(now + 360)),
        ("replayed day-old", str(now - 86_400)), ("zero", "0"), ("negative", "-1"),
        ("float", f"{now}.5"), ("empty", ""), ("inner space", f"{now} 1"), ("letters", "abc"),
        ("hex", hex(now)), ("5000 digits", "9" * 5000), ("25 digits", "1" * 25),
        ("plus sign", f"+{now}"), ("exponent", "1.7e9"), ("arabic digits", "١٧٠٠٠٠٠٠٠٠"),
        ("non-ASCII", "１７００"), ("nan", "nan"), ("newline-free junk", "v0=" + ts),
    ]:
        cases.append((f"timestamp {label}", raw, form + [
            ("x-slack-request-timestamp", ts_value),
            ("x-slack-signature", signed(ts_value) if ts_value.strip() else sig)]))
    return cases
