"""From a chosen sentence to an answer: merged span, highlight, citations and conflicts.

An answer's size is bounded whatever the documents hold: a quote is at most MAX_QUOTE_CHARS (a
lead-in takes only the list items that fit) and a citation's passage at most MAX_PASSAGE_CHARS
around its quote. The segmenter already caps sentences and chunks; these caps also hold for an
index written before it did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from index.records import Sentence

from .corpus import Corpus
from .language.en import Quantity, quantities
from .schema import Citation, Highlight

MAX_LIST_ITEMS = 12
MAX_QUOTE_CHARS = 4_000  # a lead-in with a dozen long items; the segmenter caps a sentence lower
MAX_PASSAGE_CHARS = 6_000  # the quote and its chunk around it
SECTION_LOOKBACK = 400  # sentences looked back for the heading a quote sits under


@dataclass(frozen=True)
class AnswerSpan:
    doc_id: str
    first_row: int  # sentence rows, inclusive
    last_row: int
    start: int
    end: int
    text: str


def sentence_span(corpus: Corpus, first: int, last: int) -> AnswerSpan:
    """Sentences first..last (rows, inclusive) of one document as one span, cut to
    MAX_QUOTE_CHARS."""
    table = corpus.snapshot.arrays.sentences  # offsets read from the table: no records built
    start = int(table["start"][first])
    end = min(int(table["end"][last]), start + MAX_QUOTE_CHARS)
    doc = corpus.document_of(first)
    return AnswerSpan(doc.doc_id, first, last, start, end, doc.text[start:end])


def answer_span(corpus: Corpus, row: int) -> AnswerSpan:
    """The chosen sentence, extended only where the document's structure says it is incomplete:
    a lead-in line (ending in ":") takes its list items, and a list item ending in ":" takes its
    deeper-indented sub-items."""
    role = corpus.role_of(row)
    if role == "lead_in":
        return sentence_span(corpus, row, _last_item(corpus, row))
    if role == "list_item" and corpus.sentence_text(row).rstrip().endswith(":"):
        return sentence_span(corpus, row, _last_item(corpus, row, nested=True))
    return sentence_span(corpus, row, row)


def highlight_in(
    corpus: Corpus, span: AnswerSpan, row: int, reader_span: tuple[int, int] | None
) -> Highlight | None:
    """The reader's answer span (offsets into sentence ``row``) made relative to the quote."""
    shift = corpus.snapshot.content.sentences[row].start - span.start
    return highlight_at(shift, len(span.text), reader_span)


def highlight_at(shift: int, quote_chars: int,
                 reader_span: tuple[int, int] | None) -> Highlight | None:
    """A span of a sentence that starts ``shift`` characters into a quote, as offsets into
    the quote (None when there is no span or it falls outside the quote)."""
    if reader_span is None:
        return None
    start, end = reader_span[0] + shift, reader_span[1] + shift
    if not 0 <= start < end <= quote_chars:
        return None
    return Highlight(start=start, end=end)


def _line_indent(text: str, offset: int) -> int:
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:offset]
    return len(line) - len(line.lstrip())


def _last_item(corpus: Corpus, row: int, *, nested: bool = False) -> int:
    """The last row of the list items introduced by ``row`` (at most MAX_LIST_ITEMS, and only
    while the quote stays within MAX_QUOTE_CHARS); with ``nested``, only the items indented
    deeper than ``row``'s own line."""
    sentences = corpus.snapshot.content.sentences
    text = corpus.documents[sentences[row].doc_id].text
    indent = _line_indent(text, sentences[row].start) if nested else -1
    last = row
    while (
        corpus.same_document(row, last + 1)
        and sentences[last + 1].role == "list_item"
        and _line_indent(text, sentences[last + 1].start) > indent
        and last - row < MAX_LIST_ITEMS
        and sentences[last + 1].end - sentences[row].start <= MAX_QUOTE_CHARS
    ):
        last += 1
    return last


@dataclass(frozen=True)
class Placement:
    """Where a quote sits in its document, everything of its citation but the document's title
    and link, the passage's text and the score (plain values: a shard sends these for every
    candidate, and the few that are cited become ``Citation``s with ``cite``)."""

    doc_id: str
    quote: str
    start: int
    end: int
    passage_start: int
    passage_end: int
    line: int
    section: str | None


def place(corpus: Corpus, span: AnswerSpan) -> Placement:
    doc = corpus.documents[span.doc_id]
    chunk_row = int(corpus.owner_chunk[span.first_row])
    chunks = corpus.snapshot.arrays.chunks
    # The passage must hold the whole quote, even when a merged answer runs past the chunk.
    p_start, p_end = _passage_range(
        min(int(chunks["start"][chunk_row]), span.start),
        max(int(chunks["end"][chunk_row]), span.end), span
    )
    return Placement(
        doc_id=doc.doc_id, quote=span.text, start=span.start, end=span.end,
        passage_start=p_start, passage_end=p_end,
        line=corpus.line_of(doc.doc_id, span.start),
        section=section_of(corpus, span.first_row),
    )


def cite(placement: Placement, title: str, url: str | None, passage: str,
         score: float) -> Citation:
    """The citation of a placed quote (``passage``: its document's text over the passage)."""
    return Citation(
        doc_id=placement.doc_id,
        title=title,
        url=url,
        quote=placement.quote,
        start=placement.start,
        end=placement.end,
        passage=passage,
        passage_start=placement.passage_start,
        passage_end=placement.passage_end,
        score=round(float(score), 6),
        line=placement.line,
        section=placement.section,
    )


def citation_for(corpus: Corpus, span: AnswerSpan, score: float) -> Citation:
    placement = place(corpus, span)
    doc = corpus.documents[span.doc_id]
    return cite(placement, doc.title, doc.url,
                doc.text[placement.passage_start : placement.passage_end], score)


def section_of(corpus: Corpus, row: int) -> str | None:
    """The nearest heading at or above sentence ``row`` in its document (a bounded look back:
    a heading further up than that says little about where the quote is)."""
    heading = int(corpus.heading_above[row])
    if heading < 0 or row - heading >= SECTION_LOOKBACK:
        return None
    text = corpus.snapshot.content.sentences[heading].text
    return " ".join(text.split()).lstrip("#").strip() or None


def _passage_range(low: int, high: int, span: AnswerSpan) -> tuple[int, int]:
    """``[low, high)``, narrowed to MAX_PASSAGE_CHARS around the quote when it is longer."""
    if high - low <= MAX_PASSAGE_CHARS:
        return low, high
    context = (MAX_PASSAGE_CHARS - (span.end - span.start)) // 2
    start = max(low, span.start - context)
    end = min(high, start + MAX_PASSAGE_CHARS)
    return max(low, end - MAX_PASSAGE_CHARS), end


def find_conflicts(
    corpus: Corpus,
    answer: AnswerSpan,
    highlight: Highlight | None,
    others: list[tuple[int, float, tuple[int, int] | None]],
    min_probability: float,
) -> list[Citation]:
    """Quotes from other documents that answer the same question with a different value
    (``conflicting_rows`` decides which), as citations."""
    sentences = corpus.snapshot.content.sentences
    readings = [OtherReading(row, probability, span, partial(_doc_of, sentences, row),
                             partial(_text_of, sentences, row))
                for row, probability, span in others]
    return [citation_for(corpus, sentence_span(corpus, row, row), probability)
            for row, probability in conflicting_rows(answer.text, answer.doc_id, highlight,
                                                     readings, min_probability)]


def _doc_of(sentences: Sequence[Sentence], row: int) -> str:
    return sentences[row].doc_id


def _text_of(sentences: Sequence[Sentence], row: int) -> str:
    return sentences[row].text


@dataclass(frozen=True)
class OtherReading:
    """Another candidate as the reader read it; its document and text are looked up only when
    the candidate gets that far (``conflicting_rows``)."""

    row: int
    probability: float
    span: tuple[int, int] | None  # the reader's answer span in the sentence
    doc_id: Callable[[], str]
    text: Callable[[], str]


def _quantities_within(text: str, start: int, end: int) -> list[Quantity]:
    return [q for q in quantities(text) if q.start < end and start < q.end]


def conflicting_rows(
    answer_text: str,
    answer_doc: str,
    highlight: Highlight | None,
    others: Sequence[OtherReading],
    min_probability: float,
) -> list[tuple[int, float]]:
    """(row, probability) of the other candidates that conflict with the answer.

    A conflict needs all of: the candidate is itself answer-bearing (probability at least
    ``min_probability``, the abstention threshold), it comes from another document, and its
    answer span and the answer's highlight each hold a quantity of the same unit with different
    values. A span's quantities are those of its whole sentence that overlap it: a reader's
    span often holds the number without the noun it counts ("40,000" of "40,000 new jobs").
    One quote per document, best first (``others`` is in the reader's order)."""
    if highlight is None:
        return []
    mine = _quantities_within(answer_text, highlight.start, highlight.end)
    if not mine:
        return []
    target = mine[0]
    out: list[tuple[int, float]] = []
    seen_docs = {answer_doc}
    for other in others:
        span = other.span
        if other.probability < min_probability or span is None:
            continue
        doc_id = other.doc_id()
        if doc_id in seen_docs:
            continue
        theirs = _quantities_within(other.text(), span[0], span[1])
        if any(q.unit == target.unit and q.value != target.value for q in theirs):
            out.append((other.row, other.probability))
            seen_docs.add(doc_id)
    return out
