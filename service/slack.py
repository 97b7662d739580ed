"""Slack: the ``/ask``-style slash command and its buttons.

Every request is verified on its raw body before anything is parsed (slack_sdk's
``SignatureVerifier``: HMAC-SHA256 of ``v0:ts:body``, 5-minute window, constant-time compare), and
any malformed header or body is a 401 — never a 500 (the verifier raises on some hostile inputs, so
it is wrapped). The slash command answers inline when its reply is ready within
``slack_inline_ms``; otherwise it acknowledges then and posts the reply to ``response_url``.
Questions from Slack have their own lane in the engine's queue (runtime.py), so an HTTP flood
neither refuses them nor makes them wait behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier

from retriever.engine import QuestionError
from retriever.schema import Answer

from .connections import request_age_s
from .feedback import AnswerRef
from .problems import Problem, problem_doc
from .ratelimit import retry_after
from .slack_blocks import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    ACTION_SHARE,
    USAGE,
    answer_message,
    notice,
)

log = logging.getLogger("citeqa.slack")

MAX_TIMESTAMP_CHARS = 20
MAX_SIGNATURE_CHARS = 100
_ANSWER_ID = re.compile(r"^[0-9a-f]{24}$")
# A reply posted to response_url (valid for 30 minutes) may wait longer than an HTTP request
# would; past this the question is dropped from the queue and the user asked to try again.
SLACK_ANSWER_DEADLINE_S = 60.0

router = APIRouter(prefix="/slack", tags=["slack"], responses={
    400: problem_doc("A signed interaction payload that is not a block_actions JSON object"),
    401: problem_doc("The request is not signed with the signing secret (any malformed header, "
                     "a timestamp outside 5 minutes, or a body that does not match)"),
    404: problem_doc("Slack is not configured on this service (no signing secret)"),
    413: problem_doc("The body is over the Slack size limit"),
})


def _signed_form(fields: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a Slack request: the signature headers and a form-encoded body (read raw, so
    the signature is checked on the exact bytes before anything is parsed)."""
    header = {"in": "header", "required": True,
              "schema": {"type": "string", "maxLength": MAX_SIGNATURE_CHARS}}
    return {
        "parameters": [
            {**header, "name": "x-slack-request-timestamp", "description": "Unix seconds"},
            {**header, "name": "x-slack-signature", "description": "v0=HMAC-SHA256 hex"},
        ],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": fields}}}},
    }


_STRING = {"type": "string"}
COMMAND_FORM = _signed_form({name: _STRING for name in (
    "team_id", "user_id", "channel_id", "command", "text", "response_url", "trigger_id")})
INTERACTION_FORM = _signed_form({"payload": {**_STRING, "description": "block_actions JSON"}})


def _unauthorized() -> Problem:
    return Problem(401, "invalid request signature")


def _single_header(request: Request, name: str, limit: int) -> str:
    values = request.headers.getlist(name)
    if len(values) != 1 or not 0 < len(values[0]) <= limit or not values[0].isascii():
        raise _unauthorized()
    return values[0]


def verify(request: Request, raw: bytes, secret: str) -> str:
    """The body as text if the request is signed with ``secret``; else raise a 401 Problem."""
    timestamp = _single_header(request, "x-slack-request-timestamp", MAX_TIMESTAMP_CHARS)
    signature = _single_header(request, "x-slack-signature", MAX_SIGNATURE_CHARS)
    if not timestamp.isdigit():
        raise _unauthorized()
    try:
        body = raw.decode("utf-8")
        valid = SignatureVerifier(secret).is_valid(body, timestamp, signature)
    except Exception:  # the verifier raises on some malformed input: that is still a 401
        valid = False
    if not valid:
        raise _unauthorized()
    return body


def _form(body: str) -> dict[str, str]:
    try:
        parsed = parse_qs(body, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        raise _unauthorized() from None
    return {key: values[0] for key, values in parsed.items()}


async def _verified_form(request: Request) -> dict[str, str] | None:
    """The verified form fields, or None for Slack's ``ssl_check`` ping (answered with an empty
    200 and no work, as bolt's SslCheck does)."""
    settings = request.app.state.service.settings
    if settings.slack_signing_secret is None:
        raise Problem(404, "Slack is not configured on this service")
    raw = await request.body()
    if raw.startswith(b"ssl_check=1") or b"&ssl_check=1" in raw:
        try:
            if _form(raw.decode("utf-8")).get("ssl_check") == "1":
                return None
        except (UnicodeDecodeError, Problem):
            pass
    return _form(verify(request, raw, settings.slack_signing_secret.get_secret_value()))


def _message_for(service: Any, answer: Answer, answer_id: str, **kwargs: Any) -> dict[str, Any]:
    return answer_message(answer, answer_id, service.settings.public_url, **kwargs)


async def _answer_payload(service: Any, future: asyncio.Future[Answer]) -> dict[str, Any]:
    try:
        answer = await service.runner.wait(future, SLACK_ANSWER_DEADLINE_S)
    except QuestionError as exc:
        return notice(f"I can't ask that: {exc}.")
    except Problem:
        return notice("Answering took too long; please try again.")
    except Exception:
        log.exception("answering a Slack command failed")
        return notice("Something went wrong while answering; please try again.")
    answer_id = await asyncio.to_thread(service.feedback.remember, answer)
    return _message_for(service, answer, answer_id)


async def _deliver_later(service: Any, reply: asyncio.Task[dict[str, Any]],
                         response_url: str) -> None:
    payload = await reply
    await service.poster.post(response_url, {**payload, "replace_original": True})


@router.post("/commands", summary="Slack slash command (signed, form-encoded)",
             openapi_extra=COMMAND_FORM)
async def command(request: Request) -> Response:
    form = await _verified_form(request)
    if form is None:
        return Response(status_code=200)
    service = request.app.state.service
    text = form.get("text", "").strip()
    if not text or text.lower() == "help":
        return JSONResponse(notice(USAGE))
    wait = service.slack_limiter.take(f"{form.get('team_id', '')}:{form.get('user_id', '')}")
    if wait:
        return JSONResponse(notice(
            f"You're asking faster than I can keep up; try again in {retry_after(wait)} s."))
    try:
        future = service.runner.submit_ask(text, channel="slack")
    except Problem:
        return JSONResponse(notice("I'm not ready to answer yet (starting up or busy); "
                                   "please try again in a moment."))
    # The inline window covers the whole reply (the answer, then storing it for the buttons) and
    # counts from the request's arrival, so neither a queue of stores nor an event loop busy
    # with a burst pushes the acknowledgement past Slack's 3 s.
    reply = asyncio.ensure_future(_answer_payload(service, future))
    window = service.settings.slack_inline_ms / 1000 - request_age_s(request.scope)
    done, _ = await asyncio.wait({reply}, timeout=max(0.0, window))
    if done:
        return JSONResponse(reply.result())
    service.spawn(_deliver_later(service, reply, form.get("response_url", "")))
    return JSONResponse(notice("Searching the documents…"))


def _action(payload: Any) -> tuple[str, str, str, str, str]:
    """(action_id, answer_id, team_id, user_id, response_url) of a block_actions payload."""
    try:
        action = payload["actions"][0]
        user = payload["user"]
        team = payload.get("team") or {}
        fields = (action["action_id"], action["value"], team.get("id") or user.get("team_id", ""),
                  user["id"], payload["response_url"])
    except (KeyError, IndexError, TypeError, AttributeError):
        raise Problem(400, "the interaction payload is missing fields") from None
    if not all(isinstance(f, str) for f in fields):
        raise Problem(400, "the interaction payload is malformed")
    return fields


@router.post("/interactions", summary="Slack button clicks (signed, form-encoded `payload`)",
             openapi_extra=INTERACTION_FORM)
async def interaction(request: Request) -> Response:
    form = await _verified_form(request)
    if form is None:
        return Response(status_code=200)
    try:
        payload = json.loads(form.get("payload", ""))
    except (ValueError, RecursionError):
        raise Problem(400, "the interaction payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return Response(status_code=200)  # nothing else is ours to handle
    action_id, answer_id, team_id, user_id, response_url = _action(payload)
    if action_id not in (ACTION_HELPFUL, ACTION_NOT_HELPFUL, ACTION_SHARE):
        return Response(status_code=200)
    service = request.app.state.service
    answer = (await asyncio.to_thread(service.feedback.recall, answer_id)
              if _ANSWER_ID.match(answer_id) else None)
    if answer is None:
        service.spawn(service.poster.post(response_url, notice(
            "That answer has expired; please ask again.", replace_original=False)))
        return Response(status_code=200)
    if action_id == ACTION_SHARE:
        message = _message_for(service, answer, answer_id, response_type="in_channel",
                               shared_by=user_id)
        service.spawn(service.poster.post(response_url, {**message, "replace_original": False}))
        return Response(status_code=200)
    helpful = action_id == ACTION_HELPFUL
    await asyncio.to_thread(service.feedback.record, AnswerRef.of(answer), helpful=helpful,
                            comment=None, channel="slack",
                            key=f"slack:{team_id}:{user_id}:{answer_id}")
    service.metrics.feedback.labels(str(helpful).lower(), "slack").inc()
    message = _message_for(service, answer, answer_id, feedback=helpful)
    service.spawn(service.poster.post(response_url, {**message, "replace_original": True}))
    return Response(status_code=200)
