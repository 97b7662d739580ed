"""Line-level detection of scraped-page boilerplate (navigation, consent, form and contact text).

The rules are general phrasings that web pages share, never keyed to one document. A matching line
is returned whole, so the segmenter drops every sentence on it; the text itself is left untouched
because citations point into it.
"""

from __future__ import annotations

import re

from .records import Span
from .segment import iter_lines

# Trailing decoration that link-like lines carry ("Read more »", "Share this:").
_DECORATION = " \t\u00a0.:;,!?|>»›→…-–—*•"

# A whole line that is nothing but one of these phrases (case-insensitive) is chrome, not content.
_WHOLE_LINE = re.compile(
    r"""(?:
        skip\ to\ (?:the\ )?(?:main\ )?(?:content|navigation|search|footer)
      | skip\ navigation
      | contact(?:\ us)?
      | useful\ contacts?
      | log\ ?in | log\ ?out | sign\ ?in | sign\ ?out | sign\ ?up | register | my\ account
      | menu | main\ menu | search | close | back\ to\ top | toggle\ navigation
      | subscribe(?:\ now)? | newsletter
      | share(?:\ (?:this|on|via)(?:\ \w+){0,2})?
      | read\ more | learn\ more | find\ out\ more | see\ more | view\ all | more
      | media\ enquiries | press\ enquiries | media\ contacts?
      | accept(?:\ all)?(?:\ cookies)? | reject(?:\ all)?(?:\ cookies)?
      | (?:manage\ )?cookie\ (?:settings|preferences|policy)
      | privacy\ policy | terms(?:\ (?:of\ use|and\ conditions|&\ conditions))?
      | print(?:\ this\ page)?
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Phrases that mark a line as boilerplate wherever they occur in it.
_ANYWHERE = re.compile(
    r"""by\ submitting\ this\ form
      | we\ use\ cookies | this\ (?:web)?site\ uses\ cookies | accept\ all\ cookies
      | (?:sign\ up|subscribe)\ (?:to|for)\ (?:our|the)\ (?:\w+\ )?newsletter
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Phrases that mark a line as boilerplate when it starts with them.
_LEADING = re.compile(
    r"""(?:
        (?:image|photo|picture|main\ image|header\ image)s?\ (?:credit|courtesy|source)s?\s*:
      | media\ enquiries\b | press\ enquiries\b
      | share\ this\b
      | skip\ to\ (?:the\ )?(?:main\ )?content\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# "Photo by Jane Doe on Unsplash": credit lines, only when short so prose never matches.
_PHOTO_BY = re.compile(r"(?:photo|image|picture)(?:graph)?\s+by\s", re.IGNORECASE)
_PRIVACY = re.compile(r"privacy\s+policy", re.IGNORECASE)
_SHORT_LINE_WORDS = 12
# A long paragraph may discuss a privacy policy; a short line naming one is a footer link.
_PRIVACY_LINE_WORDS = 40


def _is_boilerplate(line: str) -> bool:
    core = line.strip().strip(_DECORATION)
    if not core:
        return False
    if _WHOLE_LINE.fullmatch(core) or _ANYWHERE.search(core) or _LEADING.match(core):
        return True
    words = len(core.split())
    if words <= _SHORT_LINE_WORDS and _PHOTO_BY.match(core):
        return True
    return words <= _PRIVACY_LINE_WORDS and _PRIVACY.search(core) is not None


def find_boilerplate(text: str) -> tuple[Span, ...]:
    """Spans of whole lines (without their line break) that are page chrome, in text order."""
    spans: list[Span] = []
    for start, end, _ in iter_lines(text):
        if start < end and _is_boilerplate(text[start:end]):
            spans.append(Span(start, end))
    return tuple(spans)
