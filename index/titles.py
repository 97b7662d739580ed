"""A document's title when its metadata gives none: citations show it as link text.

The order is: sidecar, front matter or the page's own metadata (decided by the loader), then a
markdown heading, then a first line that reads as a title, then the file name turned into words.
A first line that is a sentence is not a title: cut to length it reads as a fragment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from .deadline import Deadline, check
from .records import Span
from .segment import iter_lines, merge_skips, overlaps_skip

MAX_TITLE_CHARS = 200
MAX_TITLE_WORDS = 12
# A line ending like a sentence or a clause is prose, not a title ("?" and "!" can end titles).
_PROSE_END = frozenset(".,;:…")
_CLOSERS = "\"'’”»)]"
_BULLETS = frozenset("-*•◦‣–—")
_MD_HEADING = re.compile(r"[ ]{0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_NAME_SEPARATORS = re.compile(r"[\s_.+-]+")


def clip_title(line: str) -> str:
    line = " ".join(line.split())
    if len(line) <= MAX_TITLE_CHARS:
        return line
    cut = line[: MAX_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space > MAX_TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _lines(
    text: str, skip: Sequence[Span], deadline: Deadline | None
) -> Iterator[tuple[int, int]]:
    """Lines that overlap no skip span (boilerplate, front matter)."""
    starts, ends = merge_skips(skip)
    for start, end, _ in iter_lines(text):
        check(deadline)
        if not overlaps_skip(starts, ends, start, end):
            yield start, end


def looks_like_title(line: str) -> bool:
    line = line.strip()
    tail = line.rstrip(_CLOSERS)
    return (
        0 < len(line) <= MAX_TITLE_CHARS
        and len(line.split(None, MAX_TITLE_WORDS)) <= MAX_TITLE_WORDS
        and any(ch.isalnum() for ch in line)
        and tail[-1:] not in _PROSE_END
        and not (line[0] in _BULLETS and line[1:2].isspace())  # a list item
    )


def title_line(text: str, skip: Sequence[Span] = (), deadline: Deadline | None = None) -> str:
    """The first line with a letter or digit on it when it reads as a title, else ""."""
    for start, end in _lines(text, skip, deadline):
        line = text[start : min(end, start + MAX_TITLE_CHARS + 1)]  # longer is no title anyway
        if any(ch.isalnum() for ch in line):  # blank lines and rules ("---", "***") come before
            return clip_title(line) if looks_like_title(line) else ""
    return ""


def markdown_heading(
    text: str, skip: Sequence[Span] = (), deadline: Deadline | None = None
) -> str:
    for start, end in _lines(text, skip, deadline):
        heading = _MD_HEADING.fullmatch(text, start, end)
        if heading is not None:
            return clip_title(heading.group(1))
    return ""


def name_title(stem: str) -> str:
    """``annual_report-2024`` -> ``Annual report 2024``."""
    words = " ".join(_NAME_SEPARATORS.split(stem)).strip()
    return clip_title(words[:1].upper() + words[1:]) if words else stem
