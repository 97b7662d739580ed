"""A13: Slack keeps its share of the engine. A real ``citeqa serve`` (a small HTTP queue) is
flooded with /v1/ask at three times its capacity while Slack commands, signed with slack_sdk,
arrive: every one is acknowledged within Slack's 3 s and answered (inline or through
response_url), none is refused as busy, while the flood's excess is shed as 503. Then a burst of
Slack commands at once (100; 300 with CITEQA_RELIABILITY_FULL=1): every acknowledgement within
3 s, every question answered."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_helpers import SLACK_SECRET, SlackReceiver, slack_headers
from tests.slack_helpers import command_body

from .common import FULL, copy_index, report
from .loadgen import Connection, ServerProcess, capacity, fmt, open_loop, percentiles, serve_env
from .service_app import HASHING_DIM

SLACK_ACK_MS = 3000
QUEUE = 8
FLOOD_S, DURING_FLOOD = 8.0, 30
BURST = 300 if FULL else 100
QUESTIONS = (
    "When was the MoU between Liverpool and Oxford signed?",
    "How much do ferry tickets to the Widnes harbour cost for adults?",
    "When does the Widnes crab festival take place?",
    "How many jobs could the investment zone create?",
)


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    got = SlackReceiver()
    yield got
    got.close()


def kind(message: dict[str, Any]) -> str:
    """What a Slack reply is: an answer, the "searching" acknowledgement, or a notice."""
    if "blocks" in message:
        return "answer"
    text = message.get("text", "")
    for key, label in (("Searching", "deferred"), ("not ready", "refused"),
                       ("too long", "timed out")):
        if key in text:
            return label
    return "other"


async def command(url: str, question: str, response_url: str) -> tuple[float, str]:
    """One slash command as Slack sends it (a new connection, signed now): (ack ms, reply)."""
    body = command_body(question, response_url)
    conn = Connection(url)
    started = time.monotonic()
    try:
        status, _, data = await asyncio.wait_for(
            conn.post("/slack/commands", body.encode(), slack_headers(body)), 30)
        reply = kind(json.loads(data)) if status == 200 else f"HTTP {status}"
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        reply = type(exc).__name__
    finally:
        await conn.close()
    return (time.monotonic() - started) * 1e3, reply


def delivered(receiver: SlackReceiver, prefix: str, expected: int,
              timeout: float) -> Counter[str]:
    """Kinds of the messages posted to response_urls under ``prefix`` (waits for ``expected``)."""
    posts = [body for path, _, body in receiver.wait(expected, timeout) if path.startswith(prefix)]
    return Counter(kind(body) for body in posts)


async def during_flood(url: str, receiver: SlackReceiver, rate: float) -> tuple[
        list[Any], list[tuple[float, str]]]:
    flood = asyncio.create_task(open_loop(url, rate, FLOOD_S, QUESTIONS))
    await asyncio.sleep(1.0)  # the HTTP queue is full by now
    gap = (FLOOD_S - 2.0) / DURING_FLOOD
    slack = []
    for n in range(DURING_FLOOD):
        slack.append(asyncio.create_task(
            command(url, QUESTIONS[n % len(QUESTIONS)], receiver.url(f"/flood/{n}"))))
        await asyncio.sleep(gap)
    return await flood, list(await asyncio.gather(*slack))


async def burst(url: str, receiver: SlackReceiver) -> list[tuple[float, str]]:
    return list(await asyncio.gather(*(
        command(url, QUESTIONS[n % len(QUESTIONS)], receiver.url(f"/burst/{n}"))
        for n in range(BURST))))


def test_a13_slack_keeps_its_share(tmp_path: Path, hashing_index: Path,
                                   receiver: SlackReceiver) -> None:
    index_dir = tmp_path / "index"
    copy_index(hashing_index, index_dir)
    env = serve_env(index_dir, tmp_path, fake_dim=HASHING_DIM,
                    max_pending_questions=QUEUE, slack_signing_secret=SLACK_SECRET,
                    slack_response_url_prefixes=json.dumps([receiver.url("/")]),
                    slack_rate_limit_per_minute=1e9, slack_rate_limit_burst=1_000_000)
    with ServerProcess(tmp_path, env, fake_dim=HASHING_DIM) as server:
        server.wait_ready(timeout=180)
        rate = asyncio.run(capacity(server.url, QUESTIONS, 3.0))
        http, flooded = asyncio.run(during_flood(server.url, receiver, 3 * rate))
        flood_posts = delivered(receiver, "/flood/", sum(r == "deferred" for _, r in flooded), 70)
        started = time.monotonic()
        bursted = asyncio.run(burst(server.url, receiver))
        burst_posts = delivered(receiver, "/burst/", sum(r == "deferred" for _, r in bursted), 70)
        drained_s = time.monotonic() - started
        alive = server.proc.poll() is None
    shed = sum(s.status == 503 for s in http)
    replies = {"flood": Counter(r for _, r in flooded), "burst": Counter(r for _, r in bursted)}
    acks = {"flood": [ms for ms, _ in flooded], "burst": [ms for ms, _ in bursted]}
    report(
        f"A13: /v1/ask flood at 3× capacity ({3 * rate:.1f}/s, HTTP queue {QUEUE}) → "
        f"{shed}/{len(http)} HTTP shed as 503; {DURING_FLOOD} Slack commands meanwhile → "
        f"acks p50/p99/max {fmt(percentiles(acks['flood'], (50, 99, 100)))} ms, "
        f"{dict(replies['flood'])} inline, {dict(flood_posts)} posted later. Burst of {BURST} "
        f"commands → acks p50/p99/max {fmt(percentiles(acks['burst'], (50, 99, 100)))} ms "
        f"({sum(ms > SLACK_ACK_MS for ms in acks['burst'])} over 3 s), "
        f"{dict(replies['burst'])} inline, {dict(burst_posts)} posted later, all answered "
        f"{drained_s:.1f} s after the burst"
    )
    assert shed > 0, "the flood did not fill the HTTP queue"
    for name in ("flood", "burst"):
        assert max(acks[name]) < SLACK_ACK_MS, (name, sorted(acks[name])[-5:])
        assert set(replies[name]) <= {"answer", "deferred"}, replies[name]
    assert set(flood_posts) <= {"answer"} and set(burst_posts) <= {"answer"}
    assert sum(flood_posts.values()) == replies["flood"]["deferred"]
    assert sum(burst_posts.values()) == replies["burst"]["deferred"]
    assert alive
