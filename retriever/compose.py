"""From a chosen sentence to an answer: merged span, highlight, citations and conflicts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .answer_types import AnswerType, matching_mentions, quantities, quantity_context
from .corpus import Corpus
from .schema import Citation, Highlight

MAX_LIST_ITEMS = 12


@dataclass(frozen=True)
class AnswerSpan:
    doc_id: str
    first_row: int  # sentence rows, inclusive
    last_row: int
    start: int
    end: int
    text: str


def sentence_span(corpus: Corpus, first: int, last: int) -> AnswerSpan:
    """Sentences first..last (rows, inclusive) of one document as one span."""
    sentences = corpus.snapshot.content.sentences
    a, b = sentences[first], sentences[last]
    text = corpus.documents[a.doc_id].text[a.start : b.end]
    return AnswerSpan(a.doc_id, first, last, a.start, b.end, text)


def same_paragraph(corpus: Corpus, row: int, nxt: int) -> bool:
    """Is sentence ``nxt`` the running-text sentence right after ``row`` in the same paragraph?"""
    sentences = corpus.snapshot.content.sentences
    if nxt != row + 1 or row < 0 or not corpus.same_document(row, nxt):
        return False
    a, b = sentences[row], sentences[nxt]
    return (
        a.role == b.role == "text"
        and a.chunk_ordinal == b.chunk_ordinal
        and "\n" not in corpus.documents[a.doc_id].text[a.end : b.start]
    )


def with_runner_up(corpus: Corpus, span: AnswerSpan, runner_up: int | None) -> AnswerSpan:
    """A one-sentence answer widened by the runner-up when that is the sentence just before or
    after it in the same paragraph: the ranker could not tell the two apart, and a reader
    usually needs both (the answer often sits next to the sentence that repeats the question's
    words)."""
    row = span.first_row
    if runner_up is None or span.last_row != row:
        return span
    first, last = min(row, runner_up), max(row, runner_up)
    if not same_paragraph(corpus, first, last):
        return span
    return sentence_span(corpus, first, last)


def answer_span(corpus: Corpus, row: int, qtype: AnswerType, question: str) -> AnswerSpan:
    """The sentence, extended when it needs its neighbours: a lead-in line (ending in ":", or in
    "including," and the like before list items) takes its list items; a list item ending in ":"
    takes its deeper-indented sub-items; a list item asked for as a list takes its lead-in and
    siblings; a sentence that lacks the asked-for type while the next one (same paragraph) has it
    takes the next one."""
    sentences = corpus.snapshot.content.sentences
    role = sentences[row].role
    if role == "list_item" and qtype == "list":
        first = row
        while corpus.same_document(row, first - 1) and sentences[first - 1].role == "list_item":
            first -= 1
        if corpus.same_document(row, first - 1) and sentences[first - 1].role == "lead_in":
            row, role = first - 1, "lead_in"
    if role == "text" and _introduces_list(corpus, row):
        role = "lead_in"
    if role == "lead_in":
        return sentence_span(corpus, row, _last_item(corpus, row))
    if role == "list_item" and sentences[row].text.rstrip().endswith(":"):
        # A list item ending in ":" introduces a nested list: the items indented deeper.
        return sentence_span(corpus, row, _last_item(corpus, row, nested=True))
    nxt = row + 1
    if (
        qtype not in ("other", "list")
        and not matching_mentions(qtype, sentences[row].text, question)
        and same_paragraph(corpus, row, nxt)
        and matching_mentions(qtype, sentences[nxt].text, question)
    ):
        return sentence_span(corpus, row, nxt)
    return sentence_span(corpus, row, row)


# How a line that introduces a list may end when it does not end in ":" ("…, including,").
_LIST_INTRO_END = re.compile(
    r"(?:[,;\u2013\u2014-]|\b(?:including|includes|include|following|as follows|such as))$",
    re.IGNORECASE,
)


def _introduces_list(corpus: Corpus, row: int) -> bool:
    """A running-text line that ends like a lead-in and is followed by list items."""
    sentences = corpus.snapshot.content.sentences
    return (
        corpus.same_document(row, row + 1)
        and sentences[row + 1].role == "list_item"
        and bool(_LIST_INTRO_END.search(sentences[row].text.rstrip()))
    )


def _line_indent(text: str, offset: int) -> int:
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:offset]
    return len(line) - len(line.lstrip())


def _last_item(corpus: Corpus, row: int, *, nested: bool = False) -> int:
    """The last row of the list items introduced by ``row`` (at most MAX_LIST_ITEMS); with
    ``nested``, only the items indented deeper than ``row``'s own line."""
    sentences = corpus.snapshot.content.sentences
    text = corpus.documents[sentences[row].doc_id].text
    indent = _line_indent(text, sentences[row].start) if nested else -1
    last = row
    while (
        corpus.same_document(row, last + 1)
        and sentences[last + 1].role == "list_item"
        and _line_indent(text, sentences[last + 1].start) > indent
        and last - row < MAX_LIST_ITEMS
    ):
        last += 1
    return last


def find_highlight(text: str, qtype: AnswerType, question: str) -> Highlight | None:
    """The first mention of the asked-for type that the question does not already contain."""
    found = matching_mentions(qtype, text, question)
    if not found:
        return None
    return Highlight(start=found[0].start, end=found[0].end)


def citation_for(corpus: Corpus, span: AnswerSpan, score: float) -> Citation:
    doc = corpus.documents[span.doc_id]
    chunk_row = int(corpus.owner_chunk[span.first_row])
    chunk = corpus.snapshot.content.chunks[chunk_row]
    # The passage must hold the whole quote, even when a merged answer runs past the chunk.
    p_start, p_end = min(chunk.start, span.start), max(chunk.end, span.end)
    return Citation(
        doc_id=doc.doc_id,
        title=doc.title,
        url=doc.url,
        quote=span.text,
        start=span.start,
        end=span.end,
        passage=doc.text[p_start:p_end],
        passage_start=p_start,
        passage_end=p_end,
        score=round(float(score), 6),
    )


def find_conflicts(
    corpus: Corpus,
    answer: AnswerSpan,
    highlight: Highlight | None,
    ranked_rows: list[int],
    probabilities: list[float],
    min_probability: float,
) -> list[Citation]:
    """Quotes giving a different value for the same quantity in the same context.

    The answer's quantity (its highlight, else the first in the answer) is compared with the
    quantities of other relevant candidates from other documents, one quote per document, best
    first, and then with the rest of the answer's own document (a source that states a figure
    twice, differently, disagrees with itself). A conflicting quantity has the same unit
    (currency sign or counted noun), a different value of the same order of magnitude (within a
    factor of 2) and shares a content word with the answer's quantity within a few words either
    side ("£42bn to the local economy" vs "£41.7bn to the regional economy"): two different
    figures in the same currency ("£38.6 billion over four years") are not a disagreement."""
    mine = quantities(answer.text)
    if highlight:  # the quantity the highlight sits in, when there is one
        mine = [q for q in mine if q.start <= highlight.start < q.end] or mine
    if not mine:
        return []
    target = mine[0]
    context = quantity_context(answer.text, target)
    sentences = corpus.snapshot.content.sentences

    def conflicting(row: int) -> bool:
        text = sentences[row].text
        return any(
            q.unit == target.unit
            and q.value != target.value
            and target.value > 0
            and 0.5 <= q.value / target.value <= 2.0
            and context & quantity_context(text, q)
            for q in corpus.sentence_quantities(row)
        )

    out: list[Citation] = []
    seen_docs = {answer.doc_id}
    for row, probability in zip(ranked_rows, probabilities, strict=True):
        if probability < min_probability:
            break
        if sentences[row].doc_id not in seen_docs and conflicting(row):
            out.append(citation_for(corpus, sentence_span(corpus, row, row), probability))
            seen_docs.add(sentences[row].doc_id)
    first = corpus.sentence_base[answer.doc_id]
    row = first
    while row < len(sentences) and sentences[row].doc_id == answer.doc_id:
        if not answer.first_row <= row <= answer.last_row and conflicting(row):
            out.append(citation_for(corpus, sentence_span(corpus, row, row), 0.0))
            break
        row += 1
    return out
