"""Slack messages for an Answer, in Block Kit and within Slack's limits.

Corpus text and questions are untrusted: in mrkdwn only ``&``, ``<`` and ``>`` are control
characters, so exactly those three are escaped (anything more shows up as ``We&#39;ve``), and a
document that contains ``<!channel>`` or ``<https://evil|click>`` renders as that text, pinging and
linking nobody. Every text is cut to fit its element's limit after escaping, and the whole message
stays far below the roughly 12,000 characters where Slack starts refusing blocks (bolt-js#2509).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from retriever.schema import Answer, Citation

SECTION_LIMIT = 3000  # section text
CONTEXT_LIMIT = 600  # our own cap per context element (Slack allows more)
FALLBACK_LIMIT = 300  # top-level `text`, the notification line
MAX_RELATED = 3
MAX_CONFLICTS = 3

ACTION_HELPFUL = "citeqa_helpful"
ACTION_NOT_HELPFUL = "citeqa_not_helpful"
ACTION_SHARE = "citeqa_share"

_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` escaped, cut (on the raw text, never inside an entity) to at most ``limit``."""
    out = escape_mrkdwn(text)
    cut = len(text)
    while len(out) > limit:
        if cut == 0 or limit < 1:
            return "…"[: max(0, limit)]
        cut = max(0, cut - max(1, len(out) - limit))
        out = escape_mrkdwn(text[:cut].rstrip()) + "…"
    return out


def _plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_lines(mrkdwn: str) -> str:
    return "> " + mrkdwn.replace("\n", "\n> ")


def text_fragment(quote_text: str) -> str:
    """A ``#:~:text=`` fragment that scrolls a browser to the quote (start,end words if long)."""
    words = quote_text.split()

    def enc(part: list[str]) -> str:
        return quote(" ".join(part), safe="").replace("-", "%2D")

    if len(words) <= 8:
        return "#:~:text=" + enc(words)
    return "#:~:text=" + enc(words[:4]) + "," + enc(words[-4:])


def citation_url(
    citation: Citation, public_url: str | None, index_version: str | None = None,
) -> str | None:
    """The page a citation links to: its own http(s) URL, else the service's document view of
    the version that answered (``index_version``): the offsets point into that version's text."""
    if citation.url:
        parts = urlsplit(citation.url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return citation.url.split("#", 1)[0] + text_fragment(citation.quote)
    if public_url:
        params: dict[str, str | int] = {"start": citation.start, "end": citation.end}
        if index_version:
            params["version"] = index_version
        query = urlencode(params)
        return f"{public_url.rstrip('/')}/documents/{quote(citation.doc_id)}?{query}#quote"
    return None


def where_text(citation: Citation) -> str:
    """Where in its document a quote sits, for people: the heading above it and its line."""
    section = citation.section or ""
    parts = [f"§ {section[:80]}{'…' if len(section) > 80 else ''}"] if section else []
    if citation.line is not None:
        parts.append(f"line {citation.line}")
    return ", ".join(parts)


def _link(url: str | None, label: str) -> str:
    title = fit(label, 150)
    if not url or len(url) > 1500:
        return f"*{title}*" if title else ""
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe_url}|{title}>"


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _citation_line(
    citation: Citation, public_url: str | None, version: str, *, with_quote: bool,
) -> str:
    link = _link(citation_url(citation, public_url, version), citation.title or citation.doc_id)
    where = where_text(citation)
    if where:
        link = f"{link} · {escape_mrkdwn(where)}"
    if not with_quote:
        return f"{link} · score {citation.score:.2f}"
    room = CONTEXT_LIMIT - len(link) - 8
    return f"“{fit(citation.quote, max(40, room))}” — {link}"


def _answer_section(answer: Answer) -> str:
    text = answer.answer or ""
    h = answer.highlight
    if h is not None and 0 <= h.start < h.end <= len(text) and text[h.start:h.end].strip():
        inner = text[h.start:h.end]
        lead = len(inner) - len(inner.lstrip())
        trail = len(inner) - len(inner.rstrip())
        start, end = h.start + lead, h.end - trail
        marked = (escape_mrkdwn(text[:start]) + "*" + escape_mrkdwn(text[start:end]) + "*"
                  + escape_mrkdwn(text[end:]))
        if len(_quote_lines(marked)) <= SECTION_LIMIT:
            return _quote_lines(marked)
    limit = SECTION_LIMIT
    quoted = _quote_lines(fit(text, limit))
    while len(quoted) > SECTION_LIMIT:
        limit -= len(quoted) - SECTION_LIMIT
        quoted = _quote_lines(fit(text, limit))
    return quoted


def _actions(answer_id: str, *, share: bool) -> dict[str, Any]:
    elements = [
        {"type": "button", "action_id": ACTION_HELPFUL, "value": answer_id,
         "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True}},
        {"type": "button", "action_id": ACTION_NOT_HELPFUL, "value": answer_id,
         "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True}},
    ]
    if share:
        elements.append({"type": "button", "action_id": ACTION_SHARE, "value": answer_id,
                         "style": "primary",
                         "text": {"type": "plain_text", "text": "Share to channel"}})
    return {"type": "actions", "block_id": "citeqa_actions", "elements": elements}


def answer_blocks(
    answer: Answer, answer_id: str, public_url: str | None = None, *,
    feedback: bool | None = None, shared_by: str | None = None,
) -> list[dict[str, Any]]:
    """The blocks for an answer. ``feedback`` (the user's judgement, once given) replaces the
    buttons with a thank-you line; ``shared_by`` renders the in-channel copy, without buttons."""
    asked = _context(f"*Question:* {fit(answer.question, CONTEXT_LIMIT - 14)}")
    version = answer.index_version  # links open the text the offsets point into
    blocks: list[dict[str, Any]] = []
    if answer.abstained:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
            ":mag: *Not in the documents.* I couldn't find an answer to this question in the "
            "documents, so I won't guess.")}})
        blocks.append(asked)
        related = answer.citations[:MAX_RELATED]
        if related:
            blocks.append(_context("*Related passages* (not an answer):"))
            blocks.extend(_context(_citation_line(c, public_url, version, with_quote=True))
                          for c in related)
    else:
        blocks.append(asked)
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _answer_section(answer)}})
        if answer.citations:
            source = _citation_line(answer.citations[0], public_url, version, with_quote=False)
            blocks.append(_context(f"Source: {source} · confidence {answer.confidence:.0%}"))
        if answer.conflicts:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
                ":warning: *Sources differ.* Other documents give a different value:")}})
            blocks.extend(_context(_citation_line(c, public_url, version, with_quote=True))
                          for c in answer.conflicts[:MAX_CONFLICTS])
        others = answer.citations[1 : 1 + MAX_RELATED]
        if others:
            blocks.append({"type": "divider"})
            blocks.append(_context("*Other passages:*"))
            blocks.extend(_context(_citation_line(c, public_url, version, with_quote=True))
                          for c in others)
    if shared_by is not None:
        who = f"<@{shared_by}>" if _SLACK_ID.match(shared_by) else "someone"
        blocks.append(_context(f"Shared by {who} · answers are quoted from the documents"))
    elif feedback is not None:
        verdict = "helpful" if feedback else "not helpful"
        blocks.append(_context(f"Thanks — you marked this answer {verdict}."))
    else:
        blocks.append(_actions(answer_id, share=not answer.abstained))
    return blocks


def fallback_text(answer: Answer) -> str:
    """The top-level ``text``: notifications and screen readers (plain, escaped)."""
    if answer.abstained:
        return "Not in the documents."
    return fit(f"Answer: {answer.answer}", FALLBACK_LIMIT)


def answer_message(
    answer: Answer, answer_id: str, public_url: str | None = None, *,
    response_type: str = "ephemeral", **kwargs: Any,
) -> dict[str, Any]:
    return {
        "response_type": response_type,
        "text": fallback_text(answer),
        "blocks": answer_blocks(answer, answer_id, public_url, **kwargs),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def notice(text: str, **extra: Any) -> dict[str, Any]:
    """A short ephemeral message (usage, errors, "searching…")."""
    return {"response_type": "ephemeral", "text": _plain(text, FALLBACK_LIMIT), **extra}


USAGE = ("Ask a question about the documents, e.g. `/ask When was the MoU signed?` — the answer "
         "is quoted from the documents with its source, or I tell you it is not in them.")
