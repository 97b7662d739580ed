"""Which lines of a document belong together: hard-wrapped prose is joined, structure is kept.

Text from man pages, RFC-style .txt, markdown wrapped at 72-80 columns and PDFs breaks lines inside
a sentence. The segmenter asks this module for *units*: ranges of the original text that are split
into sentences as one (a line break inside a unit is plain whitespace). Nothing here changes the
text, so offsets stay exact.

A break between two lines of a block (lines between blank lines) may be joined when both lines
are prose (not a list item, heading, setext underline, table row or fenced code) and indentation
stays (or the block's first line sets a hanging/first-line indent, or a list item's continuation
is indented under it). It is joined when one of these says the sentence runs on:

- hyphenation: the line ends in letter + "-" and the next starts in lower case (or with a
  capital, when the line is at least half the wrap width: "Franco-" + "Prussian");
- continuation: the next line starts in lower case, the line is at least half the wrap width and
  does not end in ":" (a lead-in keeps its role);
- greedy fit: the block is wrapped (most of its breaks fit) and the next line's first word would
  not have fitted on this line, which is exactly when a greedy wrapper breaks there (a ":" there
  is mid-sentence too).

In a wrapped block a line can start with "–", "1." or "n)" by chance; right after a line that
runs on, where that marker would not have fitted, it is prose, not a list item.

The wrap width of a block is its widest line, or the document's typical width when that is wider
(a two-line paragraph alone cannot show its width). Lines wider than MAX_WRAP_WIDTH are not hard
wrapped (HTML-derived text has one paragraph per line), and widths under MIN_WRAP_WIDTH are lists
of short lines rather than prose.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .deadline import Deadline, check

MIN_WRAP_WIDTH = 30
MAX_WRAP_WIDTH = 160
# Proportional fonts (PDF) make character counts only approximate the printed width.
FIT_RATIO = 0.85
TAB_WIDTH = 8
CONTINUATION_RATIO = 0.5
CAPS_HEADING_MAX_WORDS = 8
SETEXT_HEADING_MAX_WORDS = 20

# Bullet markers must be followed by whitespace, so "-5%" or "*bold*" stay prose.
BULLET = re.compile(
    r"(?:[-*•◦‣–—]|\d{1,3}[.)]|[A-Za-z]\)|\((?:\d{1,3}|[a-z]|[ivx]{1,4})\))(?=\s)\s*"
)
_ATX = re.compile(r"[ ]{0,3}#{1,6}[ \t]+\S")
_UNDERLINE = re.compile(r"[ ]{0,3}(?:={2,}|-{2,})[ \t]*")
_FENCE = re.compile(r"[ ]{0,3}(?:```|~~~)")
# A table of contents' dot leader ("2.5 Future developments . . . . . 4"): an entry that points
# to where the text is, never the text itself.
_LEADER = re.compile(r"(?:\.\s){4,}|\.{5,}")
# Column gaps of a plain-text table (two spaces after a stop, RFC style, are not one); a pipe
# table row starts with "|" or has two " | " separators ("{x | x > 0}" in prose has one).
_COLUMN_GAP = re.compile(r"(?:[ ]{3,}|\t)(?=\S)")
_WORD = re.compile(r"\S*")
_CLOSERS = "\"'’”»)]"
_NO_HEADING_END = frozenset(".!?…:;,")

Kind = Literal[
    "blank", "plain", "bullet", "heading", "underline", "fence", "code", "table", "decor", "toc"]
_JOINABLE_FIRST = frozenset({"plain", "bullet"})
_NOT_TEXT: frozenset[Kind] = frozenset({"blank", "underline", "fence", "toc"})


@dataclass(frozen=True)
class Unit:
    """A range of text split into sentences as one: a line, or wrapped lines joined."""

    start: int  # first character after any list marker, trimmed
    end: int  # trimmed end of the unit's last line
    bullet: bool
    heading: bool  # marked up or typeset as a heading (ATX, setext, ALL CAPS)
    has_next_line: bool


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    next_start: int
    body_start: int  # after the list marker, trimmed
    body_end: int
    indent: int
    width: int  # columns up to the last visible character
    first_word: int  # length of the body's first word
    kind: Kind


def _columns(text: str, start: int, end: int) -> int:
    """Display width of ``text[start:end]``: a tab moves to the next multiple of TAB_WIDTH, as a
    terminal or editor shows it (man pages and AsciiDoc indent wrapped paragraphs with tabs)."""
    if "\t" not in text[start:end]:
        return end - start
    return len(text[start:end].expandtabs(TAB_WIDTH))


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` narrowed past whitespace at both ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_caps_heading(body: str) -> bool:
    if len(body.split(None, CAPS_HEADING_MAX_WORDS)) > CAPS_HEADING_MAX_WORDS:
        return False  # checked first: most lines are long prose
    return (
        body.isupper()  # some cased letter, none lower case
        and sum(c.isalpha() for c in body) >= 2
        and body.rstrip(_CLOSERS)[-1:] not in _NO_HEADING_END
    )


def _kind(text: str, start: int, end: int, body_start: int, body_end: int) -> tuple[Kind, int, int]:
    """The line's kind, with its body narrowed past a list marker."""
    if body_start == body_end:
        return "blank", body_start, body_end
    if _UNDERLINE.fullmatch(text, start, end):
        return "underline", body_start, body_end
    if _ATX.match(text, start, end) is not None:
        # The "#" marker stays in the quote: the sentence is the line as written.
        return "heading", body_start, body_end
    bullet = BULLET.match(text, body_start, body_end)
    if bullet is not None:
        return "bullet", bullet.end(), body_end
    body = text[body_start:body_end]
    if not any(c.isalnum() for c in body):
        return "decor", body_start, body_end
    if len(body) <= MAX_WRAP_WIDTH and _LEADER.search(body) is not None:
        return "toc", body_start, body_end  # a long line with a leader is prose around one
    gaps = ("   " in body or "\t" in body) and len(_COLUMN_GAP.findall(body)) >= 2
    if body.startswith("|") or body.count(" | ") >= 2 or gaps:
        return "table", body_start, body_end
    if _is_caps_heading(body):
        return "heading", body_start, body_end
    return "plain", body_start, body_end


def _classify(
    text: str, lines: Sequence[tuple[int, int, int]], deadline: Deadline | None
) -> list[_Line]:
    out: list[_Line] = []
    in_fence = False
    for start, end, next_start in lines:
        check(deadline)
        body_start, body_end = trim(text, start, end)
        fence = _FENCE.match(text, start, end) is not None
        kind: Kind
        if fence:
            kind = "fence"  # the ``` line itself: markup, never a sentence
            in_fence = not in_fence
        elif in_fence:
            kind = "code" if body_start < body_end else "blank"
        else:
            kind, body_start, body_end = _kind(text, start, end, body_start, body_end)
        visible_start, visible_end = trim(text, start, end)
        word = _WORD.match(text, body_start, body_end)
        out.append(_Line(
            start=start, end=end, next_start=next_start, body_start=body_start,
            body_end=body_end, indent=_columns(text, start, visible_start),
            width=_columns(text, start, visible_end),
            first_word=len(word.group()) if word else 0, kind=kind,
        ))
    # A line underlined with === or --- is a setext heading.
    for i in range(1, len(out)):
        above = out[i - 1]
        if out[i].kind == "underline" and above.kind == "plain":
            body = text[above.body_start : above.body_end]
            if len(body.split()) <= SETEXT_HEADING_MAX_WORDS and not body.endswith((".", ":")):
                out[i - 1] = replace(above, kind="heading")
    return out


def _blocks(lines: list[_Line]) -> list[range]:
    """Runs of non-blank lines (a blank line always ends a paragraph)."""
    blocks: list[range] = []
    first = 0
    for i, line in enumerate(lines):
        if line.kind == "blank":
            if first < i:
                blocks.append(range(first, i))
            first = i + 1
    if first < len(lines):
        blocks.append(range(first, len(lines)))
    return blocks


def _candidate(lines: list[_Line], i: int, block_first: int) -> bool:
    """Could the break after line ``i`` be inside a sentence, judging by structure alone?"""
    a, b = lines[i], lines[i + 1]
    if a.kind not in _JOINABLE_FIRST or b.kind != "plain":
        return False
    if a.kind == "bullet":
        return b.indent > a.indent  # an item's wrapped continuation is indented under it
    return b.indent == a.indent or i == block_first


def _fits(a: _Line, b: _Line, width: float) -> bool:
    # A greedy wrapper breaks only when the next word would overflow the line.
    return a.width + 1 + b.first_word >= FIT_RATIO * width


def _block_width(lines: list[_Line], block: range) -> int:
    return max((lines[i].width for i in block if lines[i].kind in _JOINABLE_FIRST), default=0)


def _wrapped(lines: list[_Line], candidates: list[int], width: float, doc_width: float) -> bool:
    """Do most of the block's candidate breaks look like a greedy wrapper's at ``width``?"""
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH or not candidates:
        return False
    if len(candidates) < 2 and not doc_width:
        return False  # one break alone cannot show a wrap width
    fitting = sum(_fits(lines[i], lines[i + 1], width) for i in candidates)
    return 2 * fitting > len(candidates)


@dataclass(frozen=True)
class _Block:
    lines: range
    width: float  # the wrap width its breaks are judged against
    wrapped: bool


def _survey(lines: list[_Line]) -> list[_Block]:
    blocks = _blocks(lines)
    candidates = [[i for i in b[:-1] if _candidate(lines, i, b.start)] for b in blocks]
    widths = [_block_width(lines, block) for block in blocks]
    evidence = [w for w, c in zip(widths, candidates, strict=True) if _wrapped(lines, c, w, 0)]
    doc_width = statistics.median(evidence) if evidence else 0
    return [
        _Block(block, max(own, doc_width), _wrapped(lines, found, max(own, doc_width), doc_width))
        for block, own, found in zip(blocks, widths, candidates, strict=True)
    ]


def _runs_on(text: str, line: _Line) -> bool:
    """Does the line end mid-sentence (no stop, colon or comma that could close a lead-in)?"""
    tail = text[line.body_start : line.body_end].rstrip(_CLOSERS)
    return bool(tail) and tail[-1] not in _NO_HEADING_END


def _unmark_wrapped_dashes(text: str, lines: list[_Line], blocks: list[_Block]) -> list[_Line]:
    """A wrapped line can start with "–" or "n)" by chance: in a wrapped block, a list marker
    after a line that runs on, where the marker would have overflowed that line, is prose."""
    out = list(lines)
    for block in blocks:
        for i in block.lines[:-1] if block.wrapped else ():
            a, b = out[i], out[i + 1]
            if b.kind != "bullet" or a.kind != "plain" or b.indent != a.indent:
                continue
            marker = _WORD.match(text, b.start + b.indent, b.body_end)
            prose = replace(b, kind="plain", body_start=b.start + b.indent,
                            first_word=len(marker.group()) if marker else 0)
            if _runs_on(text, a) and _fits(a, prose, block.width):
                out[i + 1] = prose
    return out


def _joins(text: str, lines: list[_Line], blocks: list[_Block]) -> set[int]:
    """Indices ``i`` whose break to line ``i + 1`` is inside a sentence."""
    joins: set[int] = set()
    for block in blocks:
        width = block.width
        for i in block.lines[:-1]:
            if not _candidate(lines, i, block.lines.start):
                continue
            a, b = lines[i], lines[i + 1]
            lower = text[b.body_start].islower()
            long = a.width >= CONTINUATION_RATIO * width
            # A line ending in ":" introduces what follows unless the wrapper broke it there.
            colon = text[a.body_end - 1] == ":"
            # "configu-" + "ration", "Franco-" + "Prussian": a word hyphenated at the break.
            hyphen = text[a.body_end - 1] == "-" and text[a.body_end - 2 : a.body_end - 1].isalpha()
            if (
                (hyphen and (lower or (long and text[b.body_start].isalpha())))
                or (not colon and lower and long)
                or (block.wrapped and _fits(a, b, width))
            ):
                joins.add(i)
    return joins


def _is_page_number(text: str, line: _Line) -> bool:
    return text[line.body_start : line.body_end].isdigit()


def units(
    text: str, lines: Sequence[tuple[int, int, int]], deadline: Deadline | None = None
) -> list[Unit]:
    """The text's units in order; ``lines`` are ``(start, end, next_start)`` as iter_lines gives."""
    classified = _classify(text, lines, deadline)
    blocks = _survey(classified)
    check(deadline)
    classified = _unmark_wrapped_dashes(text, classified, blocks)
    joins = _joins(text, classified, blocks)
    check(deadline)
    out: list[Unit] = []
    i = 0
    while i < len(classified):
        first, before = classified[i], classified[i - 1] if i else None
        while i in joins:
            i += 1
        last = classified[i]
        i += 1
        if first.kind in _NOT_TEXT or first.body_start == first.body_end:
            continue
        if before is not None and before.kind == "toc" and _is_page_number(text, first):
            continue  # the last entry's page number, extracted onto a line of its own
        out.append(Unit(
            start=first.body_start, end=last.body_end, bullet=first.kind == "bullet",
            heading=first.kind == "heading", has_next_line=last.next_start > last.end,
        ))
    return out
