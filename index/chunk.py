"""Sentence-aligned chunks: the splitter decides where chunks break, sentences decide their edges.

RecursiveCharacterTextSplitter picks break points that respect paragraphs and lines; each of its
chunks is then widened to whole sentences, so a chunk never cuts a sentence that a citation could
quote. A chunk is a half-open range of sentence indices; its text is
``text[sentences[first].start : sentences[last - 1].end]``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .records import SentenceSpan


def _locate(text: str, pieces: Sequence[str], chunk_overlap: int) -> list[tuple[int, int]]:
    """Character ranges of the splitter's pieces, found with a cursor that only moves forward.

    A piece starts after the previous one and at most ``chunk_overlap`` characters before the
    previous one ends, so searching from that bound never lands on a later copy of repeated text
    (the splitter's own ``start_index`` can). In repeated text the match may be an earlier copy;
    that only leaves gaps, which ``chunk_sentences`` fills.
    """
    spans: list[tuple[int, int]] = []
    prev_start, prev_end = -1, 0
    for i, piece in enumerate(pieces):
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


def chunk_sentences(
    text: str,
    sentences: Sequence[SentenceSpan],
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
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
    for start, end in _locate(text, splitter.split_text(text), chunk_overlap):
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
    return sorted(set(ranges))
