"""Sentence-aligned chunks: the splitter decides where chunks break, sentences decide their edges.

RecursiveCharacterTextSplitter picks break points that respect paragraphs and lines; each of its
chunks is then widened to whole sentences, so a chunk never cuts a sentence that a citation could
quote. A chunk is a half-open range of sentence indices; its text is
``text[sentences[first].start : sentences[last - 1].end]``.

Chunks stay bounded whatever the text: no chunk is longer than ``chunk_size`` plus two sentences
(``max_chunk_chars``), and the splitter never sees a very long line whole (see ``_splitter_view``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .deadline import Deadline, check
from .records import SentenceSpan
from .segment import MAX_TOKEN_CHARS

# Lines longer than this many chunks are machine output (an encoded blob, a page saved without
# line breaks); written paragraphs, the bench corpora's longest included, stay below it, so
# ordinary text reaches the splitter exactly as before.
LONG_LINE_CHUNKS = 16


def max_chunk_chars(chunk_size: int) -> int:
    """The longest chunk ``chunk_sentences`` returns: a piece of the splitter widened by at most
    one sentence at each end."""
    return chunk_size + 2 * MAX_TOKEN_CHARS


def _line_breaks(text: str, sentences: Sequence[SentenceSpan], chunk_size: int) -> list[int]:
    """Where ``_splitter_view`` puts a line break: in each line longer than LONG_LINE_CHUNKS
    chunks, just before each sentence, and every ``chunk_size`` characters where no sentence
    starts (skipped text, decoration)."""
    breaks: list[int] = []
    starts = [s.start for s in sentences]
    line_start = 0
    while line_start < len(text):
        newline = text.find("\n", line_start)
        line_end = len(text) if newline < 0 else newline
        if line_end - line_start > LONG_LINE_CHUNKS * chunk_size:
            last = line_start
            for i in range(bisect.bisect_left(starts, line_start + 1), len(starts)):
                if starts[i] >= line_end:
                    break
                # The character before the sentence: a space, or the end of a cut-up blob.
                breaks.extend(range(last + chunk_size, starts[i] - 1, chunk_size))
                breaks.append(starts[i] - 1)
                last = starts[i] - 1
            breaks.extend(range(last + chunk_size, line_end, chunk_size))
        line_start = line_end + 1
    return breaks


def _splitter_view(text: str, sentences: Sequence[SentenceSpan], chunk_size: int) -> str:
    """The text as the splitter sees it: a copy of the same length (so offsets hold) in which
    overlong lines are broken into sentence-sized lines. On a line with no spaces the splitter
    falls back to one string per character (many times the line's size in memory); on one with
    spaces, to one string per word."""
    breaks = _line_breaks(text, sentences, chunk_size)
    if not breaks:
        return text
    parts: list[str] = []
    at = 0
    for pos in breaks:
        parts += [text[at:pos], "\n"]
        at = pos + 1
    parts.append(text[at:])
    return "".join(parts)


def _locate(
    text: str, pieces: Sequence[str], chunk_overlap: int, deadline: Deadline | None
) -> list[tuple[int, int]]:
    """Character ranges of the splitter's pieces, found with a cursor that only moves forward.

    A piece starts after the previous one and at most ``chunk_overlap`` characters before the
    previous one ends, so searching from that bound never lands on a later copy of repeated text
    (the splitter's own ``start_index`` can). In repeated text the match may be an earlier copy;
    that only leaves gaps, which ``chunk_sentences`` fills.
    """
    spans: list[tuple[int, int]] = []
    prev_start, prev_end = -1, 0
    for i, piece in enumerate(pieces):
        check(deadline)
        low = max(prev_start + 1, prev_end - chunk_overlap, 0)
        # The last piece ends where the text's content ends, so its last occurrence is the one.
        at = text.rfind(piece) if i == len(pieces) - 1 else -1
        if at < low:
            at = text.find(piece, low)
        if at < 0:
            continue  # cannot happen with the stock splitter; the gap filler covers it anyway
        prev_start, prev_end = at, at + len(piece)
        spans.append((prev_start, prev_end))
    return spans


def _pack(
    sentences: Sequence[SentenceSpan], first: int, last: int, chunk_size: int
) -> list[tuple[int, int]]:
    """Greedy whole-sentence chunks of at most ``chunk_size`` characters over ``[first, last)``."""
    out: list[tuple[int, int]] = []
    begin = first
    for i in range(first + 1, last + 1):
        if i == last or sentences[i].end - sentences[begin].start > chunk_size:
            out.append((begin, i))
            begin = i
    return out


def _bounded(
    sentences: Sequence[SentenceSpan], ranges: list[tuple[int, int]], chunk_size: int
) -> list[tuple[int, int]]:
    """``ranges`` with any range longer than ``max_chunk_chars`` repacked (a guard: the
    splitter's pieces are at most ``chunk_size`` long, so none should be)."""
    out: list[tuple[int, int]] = []
    for first, last in ranges:
        if sentences[last - 1].end - sentences[first].start > max_chunk_chars(chunk_size):
            out.extend(_pack(sentences, first, last, chunk_size))
        else:
            out.append((first, last))
    return out


def chunk_sentences(
    text: str,
    sentences: Sequence[SentenceSpan],
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    deadline: Deadline | None = None,
) -> list[tuple[int, int]]:
    """Half-open sentence-index ranges, ordered, unique, together covering every sentence."""
    if chunk_size <= 0 or not 0 <= chunk_overlap < chunk_size:
        raise ValueError("need chunk_size > 0 and 0 <= chunk_overlap < chunk_size")
    if not sentences:
        return []
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    starts = [s.start for s in sentences]
    ends = [s.end for s in sentences]
    snapped: set[tuple[int, int]] = set()
    view = _splitter_view(text, sentences, chunk_size)
    check(deadline)
    for start, end in _locate(view, splitter.split_text(view), chunk_overlap, deadline):
        first = bisect.bisect_right(ends, start)  # the sentence holding ``start``, or the next
        last = bisect.bisect_left(starts, end)  # one past the sentence holding ``end - 1``
        if first < last:
            snapped.add((first, last))
    # Fill any sentence the located pieces missed (text the splitter dropped, repeated text).
    ranges: list[tuple[int, int]] = []
    covered = 0
    for first, last in sorted(snapped):
        if first > covered:
            ranges.extend(_pack(sentences, covered, first, chunk_size))
        ranges.append((first, last))
        covered = max(covered, last)
    if covered < len(sentences):
        ranges.extend(_pack(sentences, covered, len(sentences), chunk_size))
    return sorted(set(_bounded(sentences, ranges, chunk_size)))
