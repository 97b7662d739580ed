"""Sentence segmentation with exact offsets (hand-written: no NLTK data is available offline).

Lines are first grouped into units (``wrap.py``): a hard-wrapped paragraph is one unit, every
other line its own. A unit boundary always ends a sentence; inside a unit (where a line break is
plain whitespace) we split after terminal punctuation that is followed by whitespace and something
that can start a sentence, and cut any run longer than MAX_SENTENCE_CHARS (see ``_cut_point``).
Each sentence gets a role (prose, list item, lead-in, heading) that the answer stage uses to merge
lead-ins with their items and to never answer with a heading alone.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator, Sequence

from .deadline import Deadline, check
from .records import SentenceRole, SentenceSpan, Span
from .wrap import trim, units

# A run with no sentence break (a table flattened to text, a paragraph without stops) is cut so
# that no quote is unbounded: at the last ";" or "," in the final quarter before the limit, else
# at the last whitespace. 400 characters (about 70 words) is what a quote can show; the rare prose
# sentence that is longer is cut into clause-sized pieces.
MAX_SENTENCE_CHARS = 400
# One token longer than the limit (a long URL) is kept whole up to this length; a run without
# whitespace past it (an encoded blob, text in a script written without spaces) is no word and is
# cut at MAX_SENTENCE_CHARS. So no sentence is ever longer than this.
MAX_TOKEN_CHARS = 2_000
_CLAUSE_END = re.compile(r"[;,](?=\s)")
# Stops and commas of scripts written without spaces between words (CJK).
_UNSPACED_BREAKS = frozenset("。！？；，、｡")
# A cut must not separate a character from the marks or joiners that follow it.
_JOINING_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf"})
_MAX_BACKOFF = 32  # a run of marks longer than this is no character's (zalgo text): cut anyway

# Bump whenever a change here can move a sentence boundary or role: the manifest records it so an
# index built by an older segmenter is rebuilt rather than silently mixed.
SEGMENTER_VERSION = "seg-4"  # bump when loaders, boilerplate or segmentation rules change

# The same line breaks as str.splitlines(); every one of them is also whitespace for str.strip().
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# A run of terminal punctuation plus any closing quotes/brackets after it.
_TERMINAL = re.compile(r"[.!?…]+[\"'’”»)\]]*")
_SPACE_RUN = re.compile(r"\s+")

_OPENERS = frozenset("\"'“‘«([")
_CLOSERS = "\"'’”»)]"
_NO_HEADING_END = frozenset(".!?…:;,")

_ABBREVIATIONS = frozenset({
    "Dr", "Prof", "Mr", "Mrs", "Ms", "Mx", "St", "Mt", "Jr", "Sr", "Inc", "Ltd", "Co", "Corp",
    "vs", "etc", "No", "Nos", "Fig", "Figs", "approx", "Gen", "Gov", "Sen", "Rep", "Rev", "Hon",
    "Lt", "Capt", "Sgt", "Maj", "Cllr", "Dept", "Vol", "cf", "al",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
})
# "U.S", "e.g", "i.e", "a.m", "U.K": letters joined by dots (the last dot is the terminal one).
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def iter_lines(text: str) -> Iterator[tuple[int, int, int]]:
    """Yield ``(start, end, next_start)`` for each line; ``end`` excludes the line break."""
    pos = 0
    for match in _LINE_BREAK.finditer(text):
        yield pos, match.start(), match.end()
        pos = match.end()
    yield pos, len(text), len(text)


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    """Whether the "." at ``dot`` closes an abbreviation or an initial rather than a sentence."""
    begin = dot
    while begin > line_start and not text[begin - 1].isspace():
        begin -= 1
    token = text[begin:dot].lstrip("\"'“‘«([{")
    if not token:
        return False
    if token in _ABBREVIATIONS or token.lower() in {"vs", "etc", "approx", "al", "cf"}:
        return True
    if len(token) == 1 and token.isupper():  # an initial, as in "J. Smith"
        return True
    return _DOTTED.fullmatch(token) is not None


def _starts_sentence(char: str) -> bool:
    return (
        char.isupper()
        or char.istitle()
        or char.isdigit()
        or char in _OPENERS
        or unicodedata.category(char) == "Sc"
    )


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split one line body ``text[start:end]`` into trimmed sentence ranges."""
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for match in _TERMINAL.finditer(text, start, end):
        after = _SPACE_RUN.match(text, match.end(), end)
        if after is None or after.end() >= end or not _starts_sentence(text[after.end()]):
            continue
        run = match.group()
        if run == "." and _is_abbreviation(text, start, match.start()):
            continue
        pieces.append((piece_start, match.end()))
        piece_start = after.end()
    pieces.append((piece_start, end))
    return [trim(text, a, b) for a, b in pieces]


def _is_content(text: str, start: int, end: int) -> bool:
    # Pure punctuation ("---", "* * *") is decoration, never an answer.
    return any(text[i].isalnum() for i in range(start, end))


def _hard_cut(text: str, start: int, limit: int) -> int:
    """Where to cut a run with no whitespace near ``limit``: after its last CJK stop or comma in
    the second half of the window, else at ``limit`` moved back off any combining mark."""
    for pos in range(limit, start + MAX_SENTENCE_CHARS // 2, -1):
        if text[pos - 1] in _UNSPACED_BREAKS:
            return pos
    pos = limit
    while pos > limit - _MAX_BACKOFF and (
        unicodedata.category(text[pos]) in _JOINING_CATEGORIES or text[pos - 1] == "\u200d"
    ):
        pos -= 1
    return pos


def _cut_point(text: str, start: int, end: int, in_blob: bool) -> tuple[int, bool]:
    """Where to cut ``text[start:end]`` (longer than MAX_SENTENCE_CHARS) into a first piece, and
    whether the cut is inside a blob (``in_blob``: ``start`` already is)."""
    limit = start + MAX_SENTENCE_CHARS
    clause = None
    for match in _CLAUSE_END.finditer(text, limit - MAX_SENTENCE_CHARS // 4, limit):
        clause = match.end()
    if clause is not None:
        return clause, False
    for pos in range(limit, start, -1):
        if text[pos].isspace():
            return pos, False
    # One token longer than the limit: a long URL stays whole, a blob is cut.
    after = None if in_blob else _SPACE_RUN.search(text, limit, min(end, start + MAX_TOKEN_CHARS))
    return (after.start(), False) if after is not None else (_hard_cut(text, start, limit), True)


def _cap_length(
    text: str, pieces: list[tuple[int, int]], deadline: Deadline | None
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in pieces:
        in_blob = False
        while end - start > MAX_SENTENCE_CHARS and (
            in_blob or end - start > MAX_TOKEN_CHARS or _SPACE_RUN.search(text, start, end)
        ):
            check(deadline)
            cut, in_blob = _cut_point(text, start, end, in_blob)
            out.append(trim(text, start, cut))
            start = trim(text, cut, end)[0]
        out.append((start, end))
    return [(a, b) for a, b in out if _is_content(text, a, b)]


def _line_roles(
    text: str, pieces: list[tuple[int, int]], is_bullet: bool, has_next_line: bool
) -> list[SentenceRole]:
    """Roles for the sentences of one line (all share the line's role, except a lead-in)."""
    if is_bullet:
        return ["list_item"] * len(pieces)
    roles: list[SentenceRole] = ["text"] * len(pieces)
    last_start, last_end = pieces[-1]
    if text[last_end - 1] == ":":
        # Only the sentence that ends in ":" introduces what follows ("... pauses. Solutions:").
        roles[-1] = "lead_in"
    elif len(pieces) == 1:
        body = text[last_start:last_end]
        tail = body.rstrip(_CLOSERS)
        short = len(body.split()) <= 10
        if short and has_next_line and tail and tail[-1] not in _NO_HEADING_END:
            roles[0] = "heading"
    return roles


def overlaps_skip(starts: list[int], ends: list[int], start: int, end: int) -> bool:
    # Merged skips are disjoint and sorted, so only the last one starting before ``end`` matters.
    i = bisect.bisect_left(starts, end)
    return i > 0 and ends[i - 1] > start


def merge_skips(skip: Sequence[Span]) -> tuple[list[int], list[int]]:
    """Skip spans merged into sorted, disjoint ``(starts, ends)`` for ``overlaps_skip``."""
    merged: list[list[int]] = []
    for span in sorted(skip, key=lambda s: (s.start, s.end)):
        if span.end <= span.start:
            continue
        if merged and span.start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], span.end)
        else:
            merged.append([span.start, span.end])
    return [m[0] for m in merged], [m[1] for m in merged]


def split_sentences(
    text: str, skip: Sequence[Span] = (), deadline: Deadline | None = None
) -> list[SentenceSpan]:
    """Sentences of ``text`` as sorted, non-overlapping, whitespace-trimmed spans with roles,
    none longer than MAX_TOKEN_CHARS.

    Sentences overlapping any ``skip`` span (boilerplate, front matter) are dropped.
    """
    starts, ends = merge_skips(skip)
    out: list[SentenceSpan] = []
    for unit in units(text, list(iter_lines(text)), deadline):
        check(deadline)
        pieces = _cap_length(text, _split_line(text, unit.start, unit.end), deadline)
        if not pieces:
            continue
        roles: list[SentenceRole] = (
            ["heading"] * len(pieces) if unit.heading
            else _line_roles(text, pieces, unit.bullet, unit.has_next_line)
        )
        for (a, b), role in zip(pieces, roles, strict=True):
            if not (starts and overlaps_skip(starts, ends, a, b)):
                out.append(SentenceSpan(a, b, role))
    return out
