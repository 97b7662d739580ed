"""Sentence segmentation: worked examples and offset properties."""

from __future__ import annotations

import base64
import random
import tracemalloc
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunk import chunk_sentences, max_chunk_chars
from index.deadline import Deadline, FileTimedOut
from index.records import SentenceSpan, Span
from index.segment import MAX_SENTENCE_CHARS, MAX_TOKEN_CHARS, split_sentences


def texts(text: str, skip: tuple[Span, ...] = ()) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text, skip)]


def roles(text: str) -> list[tuple[str, str]]:
    return [(s.role, text[s.start : s.end]) for s in split_sentences(text)]


def test_titles_do_not_end_sentences() -> None:
    assert texts("Dr. Jon Hague chaired it. Prof. Tim Jones spoke.") == [
        "Dr. Jon Hague chaired it.",
        "Prof. Tim Jones spoke.",
    ]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = "J. Smith met Mr. Jones at 9 a.m. on Jan. 5 in the U.S. and left. He went home."
    assert texts(text) == [
        "J. Smith met Mr. Jones at 9 a.m. on Jan. 5 in the U.S. and left.",
        "He went home.",
    ]
    assert texts("Fruit, e.g. Apples, etc. Are fine. See Fig. 3 for details.") == [
        "Fruit, e.g. Apples, etc. Are fine.",
        "See Fig. 3 for details.",
    ]


def test_numbers_money_and_percentages_stay_whole() -> None:
    assert texts("A £3bn pipeline. It grew.") == ["A £3bn pipeline.", "It grew."]
    assert texts("Invest 5% of GVA by 2030. That is 2.4% of GDP. Also 3.5 times more.") == [
        "Invest 5% of GVA by 2030.",
        "That is 2.4% of GDP.",
        "Also 3.5 times more.",
    ]
    assert texts("It cost $4.5m. £2bn more came in 2024. 2025 was better.") == [
        "It cost $4.5m.",
        "£2bn more came in 2024.",
        "2025 was better.",
    ]


def test_urls_and_emails_stay_whole() -> None:
    assert texts("See https://example.org/A.B?x=1 now. Mail jo.bloggs@example.co.uk today.") == [
        "See https://example.org/A.B?x=1 now.",
        "Mail jo.bloggs@example.co.uk today.",
    ]


def test_quoted_speech_splits_after_the_closing_quote() -> None:
    assert texts('He said “We are ready.” Then he left. She said "Go!" And went.') == [
        "He said “We are ready.”",
        "Then he left.",
        'She said "Go!"',
        "And went.",
    ]
    assert texts("It (the plan.) Works. “Yes.” “No.”") == [
        "It (the plan.)",
        "Works.",
        "“Yes.”",
        "“No.”",
    ]


def test_lowercase_after_a_stop_does_not_split_and_ellipsis_does() -> None:
    assert texts("A new era... supporting firms. Last year… But not now.") == [
        "A new era... supporting firms.",
        "Last year…",
        "But not now.",
    ]


def test_newline_always_ends_a_sentence_and_spans_are_trimmed() -> None:
    text = "  First line without stop\n\tSecond line.  \r\nThird\u00a0line.\u00a0"
    assert texts(text) == ["First line without stop", "Second line.", "Third\u00a0line."]


def test_bullets_are_list_items_without_their_marker() -> None:
    text = (
        "The plan will:\n- Grow jobs.\n* Attract investment\n• Retain talent\n"
        "1. First thing\n2) Second thing\na) Lettered\n  – Dashed\n-5% is not a bullet.\n"
    )
    assert roles(text) == [
        ("lead_in", "The plan will:"),
        ("list_item", "Grow jobs."),
        ("list_item", "Attract investment"),
        ("list_item", "Retain talent"),
        ("list_item", "First thing"),
        ("list_item", "Second thing"),
        ("list_item", "Lettered"),
        ("list_item", "Dashed"),
        ("text", "-5% is not a bullet."),
    ]


def test_lead_in_without_items_and_in_a_multi_sentence_line() -> None:
    text = "Commenting on it, the Mayor said:\n“It is great.”\nIt faces cuts. Solutions:\n- Visas."
    assert roles(text) == [
        ("lead_in", "Commenting on it, the Mayor said:"),
        ("text", "“It is great.”"),
        ("text", "It faces cuts."),
        ("lead_in", "Solutions:"),
        ("list_item", "Visas."),
    ]


def test_headings_are_short_unpunctuated_lines_followed_by_more() -> None:
    text = (
        "Our Vision\n\nWe lead.\nBackground: Complementary Ecosystems\nText follows here.\n"
        "This line is a rather long line of prose with more than ten words in it\n"
        "Includes, among others,\nClosing line"
    )
    assert roles(text) == [
        ("heading", "Our Vision"),
        ("text", "We lead."),
        ("heading", "Background: Complementary Ecosystems"),
        ("text", "Text follows here."),
        ("text", "This line is a rather long line of prose with more than ten words in it"),
        ("text", "Includes, among others,"),
        ("text", "Closing line"),  # last line: nothing follows it
    ]


def test_sentences_overlapping_skip_spans_are_dropped() -> None:
    text = "Skip to content\nReal sentence. Another one.\nContact us"
    skip = (Span(0, 15), Span(text.index("Contact"), len(text)))
    assert texts(text, skip) == ["Real sentence.", "Another one."]
    assert texts(text, (Span(20, 22),)) == ["Skip to content", "Another one.", "Contact us"]


def test_decoration_only_lines_are_not_sentences() -> None:
    assert texts("---\n* * *\n- \n•\nReal.") == ["Real."]
    assert split_sentences("") == []
    assert split_sentences(" \n\t\n") == []


# --- runs without whitespace (issue 14) ---------------------------------------------------------


def blob(size: int) -> str:
    return base64.b64encode(random.Random(5).randbytes(size)).decode()[:size]


def test_a_run_without_whitespace_is_cut_into_bounded_sentences() -> None:
    data = blob(100_000)
    cjk = "日本語の文章には空白がありません。" * 2_000
    marks = ("e\u0301\u0302" + "x" * 7) * 10_000  # letters carrying combining accents
    for text in (data, cjk, marks):
        spans = split_sentences(text)
        check_spans(text, spans)
        assert max(s.end - s.start for s in spans) <= MAX_SENTENCE_CHARS
        assert "".join(text[s.start : s.end] for s in spans) == text  # nothing lost
        assert all(unicodedata.category(text[s.start]) != "Mn" for s in spans)
    assert all(text.endswith("。") for text in texts(cjk)[:-1])  # cut after a stop


def test_a_long_token_stays_whole_up_to_max_token_chars() -> None:
    url = "https://example.org/" + "a" * 1_480
    assert texts(f"See {url} for the form.") == ["See", url, "for the form."]
    pieces = texts("x" * (MAX_TOKEN_CHARS + 500) + " tail")
    assert max(map(len, pieces)) <= MAX_SENTENCE_CHARS  # past the bound it is a blob: cut
    assert "".join(pieces).replace(" ", "") == "x" * (MAX_TOKEN_CHARS + 500) + "tail"


@pytest.mark.parametrize("kind", ["blob", "words"])
def test_chunking_a_long_line_is_bounded_and_holds_no_string_per_word(kind: str) -> None:
    # The splitter falls back to one string per word (or character) on a line it cannot break.
    words = " ".join(random.Random(6).choice(["zebra", "quartz", "falcon"]) for _ in range(700_000))
    text = blob(4_000_000) if kind == "blob" else words[:4_000_000]
    spans = split_sentences(text)
    tracemalloc.start()
    try:
        ranges = chunk_sentences(text, spans, 1000, 150)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert max(spans[b - 1].end - spans[a].start for a, b in ranges) <= max_chunk_chars(1000)
    assert {i for a, b in ranges for i in range(a, b)} == set(range(len(spans)))
    assert peak < 40 * 2**20, f"chunking a 4 MB line held {peak / 2**20:.0f} MB"


def test_segmenting_and_chunking_stop_at_the_deadline() -> None:
    text = "A sentence here. " * 1_000
    expired = Deadline.start("slow.txt", 0.0)
    with pytest.raises(FileTimedOut, match="slow.txt: took over 0 s"):
        split_sentences(text, deadline=expired)
    spans = split_sentences(text)
    with pytest.raises(FileTimedOut):
        chunk_sentences(text, spans, 1000, 150, deadline=expired)


# --- properties ------------------------------------------------------------------------------

_PIECES = [
    "Dr.", "Prof.", "U.S.", "e.g.", "J.", "£3bn", "5%", "2.4%", "3.5", "etc.", "No.", "Hello",
    "world.", "it", "Is", "“Quoted.”", '"Yes!"', "(aside.)", "…", "...", "?", "!", ":", "-", "*",
    "•", "–", "1.", "a)", "\n", "\n\n", "\r\n", " ", "  ", "\t", "\u00a0", "\u2028", "é", "Ω",
    "日本語。", "x@y.com", "https://a.b/C.D", "'", "’", ")", "(", "—",
]
_ALPHABET = st.sampled_from(list("aZ .!?…\"'’”“()[]\n\r\t\u00a0-*•–—1:;,£%éΩ\u2028\x0c"))

arbitrary_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=_ALPHABET, max_size=300),
    st.lists(st.sampled_from(_PIECES), max_size=80).map(" ".join),
    st.lists(st.sampled_from(_PIECES), max_size=80).map("".join),
)


def check_spans(text: str, spans: list[SentenceSpan]) -> None:
    previous_end = 0
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece
        assert span.start >= previous_end  # sorted and non-overlapping
        previous_end = span.end
        assert span.role in {"text", "list_item", "lead_in", "heading"}


@settings(max_examples=200, deadline=None)
@given(arbitrary_text)
def test_spans_are_exact_trimmed_sorted_and_disjoint(text: str) -> None:
    check_spans(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(arbitrary_text, st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40)), max_size=5))
def test_skip_spans_only_remove_sentences(text: str, raw_skips: list[tuple[int, int]]) -> None:
    skip = tuple(Span(a, a + n) for a, n in raw_skips)
    kept = split_sentences(text, skip)
    check_spans(text, kept)
    assert set(kept) <= set(split_sentences(text))
    for span in kept:
        assert not any(s.start < span.end and span.start < s.end for s in skip)
