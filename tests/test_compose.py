"""Conflict detection's notion of "the same quantity in the same context" (pure functions)."""

from __future__ import annotations

from retriever.compose import OtherReading, conflicting_rows
from retriever.language.en import quantities, quantity_context
from retriever.schema import Highlight


def _context(text: str) -> frozenset[str]:
    return quantity_context(text, quantities(text)[0])


def test_same_figure_in_the_same_context_shares_words():
    a = _context("plans that could add £42bn to the local economy")
    b = _context("adding an estimated value of £41.7bn to the regional economy")
    assert a & b  # "economy"


def test_same_currency_about_something_else_shares_nothing():
    a = _context("plans that could add £42bn to the local economy")
    b = _context("Yet, with UKRI's £38.6 billion over four years, alignment is promising.")
    assert not a & b


def test_counted_nouns_are_their_own_context():
    a = _context("could create around 44,000 high-skilled, well-paid jobs")
    b = _context("the potential for 40,000 new jobs")
    assert "job" in a & b


def test_a_citation_says_where_its_quote_sits(tmp_path):
    """Line and section of a citation, on a real (hashing-encoder) index of a markdown file."""
    from index.pipeline import IngestConfig, ingest
    from index.store import load_snapshot
    from retriever.compose import citation_for, sentence_span
    from retriever.corpus import Corpus
    from tests.fake_encoder import HashingEncoder

    docs = tmp_path / "docs"
    docs.mkdir()
    text = ("# Harbour guide\n\nThe harbour opened in 1890.\n\n## Ferries\n\n"
            "The first ferry leaves at six.\nThe last ferry leaves at ten.\n")
    (docs / "guide.md").write_text(text, encoding="utf-8")
    (docs / "plain.txt").write_text("No headings here. Just two sentences.\n", encoding="utf-8")
    ix = tmp_path / "ix"
    ingest([docs], ix, HashingEncoder(dim=16), IngestConfig(), progress=False)
    with load_snapshot(ix, lease=False) as snapshot:
        corpus = Corpus.from_snapshot(snapshot)
        rows = {s.text: i for i, s in enumerate(snapshot.content.sentences)}
        cites = {
            quote: citation_for(corpus, sentence_span(corpus, rows[quote], rows[quote]), 1.0)
            for quote in ("The last ferry leaves at ten.", "The harbour opened in 1890.",
                          "Just two sentences.")
        }
    last = cites["The last ferry leaves at ten."]
    assert (last.line, last.section) == (8, "Ferries")
    assert text.splitlines()[last.line - 1] == last.quote
    opened = cites["The harbour opened in 1890."]
    assert (opened.line, opened.section) == (3, "Harbour guide")
    plain = cites["Just two sentences."]
    assert (plain.line, plain.section) == (1, None)


def _reading(row: int, probability: float, doc: str, text: str, span: str) -> OtherReading:
    at = text.index(span)
    return OtherReading(row, probability, (at, at + len(span)), lambda: doc, lambda: text)


def test_a_conflict_reads_the_unit_beside_a_bare_number_span():
    answer = "The plan could create up to 40,000 new jobs by 2030."
    at = answer.index("40,000")
    others = [
        _reading(1, 0.9, "a", "In the same report, 41,000 new jobs are named.", "41,000"),
        _reading(2, 0.9, "b", "Plans could create around 44,000 well-paid jobs.", "44,000"),
        _reading(3, 0.9, "c", "It would add 44,000 visitors a year.", "44,000"),
        _reading(4, 0.1, "d", "Others say 50,000 jobs.", "50,000"),
    ]
    found = conflicting_rows(answer, "a", Highlight(start=at, end=at + 6), others, 0.5)
    # Same document, other unit and not answer-bearing are no conflicts.
    assert found == [(2, 0.9)]


def test_percent_signs_and_words_are_one_unit():
    assert [(q.value, q.unit) for q in quantities("5% of GVA, or 5 percent")] == [
        (5.0, "percent"), (5.0, "percent")]


def test_the_heading_above_a_row_stays_in_its_document():
    import numpy as np

    from retriever.corpus import nearest_heading_rows

    #            doc 0: H  t  t | doc 1: t  H  t  H | doc 2: t
    is_heading = np.array([1, 0, 0, 0, 1, 0, 1, 0], dtype=bool)
    doc = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    assert nearest_heading_rows(is_heading, doc).tolist() == [0, 0, 0, -1, 4, 4, 6, -1]
    assert nearest_heading_rows(np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)).tolist() == []


def test_line_numbers_hold_when_documents_leave_the_line_cache(tmp_path, monkeypatch):
    """A citation's line comes from a small cache of documents' line breaks; whichever
    documents it holds, every sentence's line is its offset's line in the text."""
    import retriever.corpus as corpus_module
    from index.pipeline import IngestConfig, ingest
    from index.store import load_snapshot
    from retriever.corpus import Corpus
    from tests.fake_encoder import HashingEncoder

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(3):
        lines = [f"Line {i} of file {n} says something." for i in range(1, 8)]
        (docs / f"f{n}.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    ingest([docs], tmp_path / "ix", HashingEncoder(dim=16), IngestConfig(), progress=False)
    monkeypatch.setattr(corpus_module, "NEWLINE_DOCUMENTS", 1)
    with load_snapshot(tmp_path / "ix", lease=False) as snapshot:
        corpus = Corpus.from_snapshot(snapshot)
        sentences = snapshot.content.sentences
        order = list(range(len(sentences)))
        for row in order + order[::-1]:  # documents in and out of the cache
            s = sentences[row]
            text = corpus.documents[s.doc_id].text
            assert corpus.line_of(s.doc_id, s.start) == text.count("\n", 0, s.start) + 1
        assert len(corpus._newlines) == 1
