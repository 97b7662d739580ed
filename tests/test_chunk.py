"""Sentence-aligned chunking: coverage, order and slice invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunk import chunk_sentences
from index.records import SentenceSpan
from index.segment import split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def check_chunks(
    text: str, sentences: list[SentenceSpan], ranges: list[tuple[int, int]], chunk_size: int
) -> None:
    if not sentences:
        assert ranges == []
        return
    assert ranges == sorted(ranges)
    assert len(set(ranges)) == len(ranges)
    covered: set[int] = set()
    for first, last in ranges:
        assert 0 <= first < last <= len(sentences)
        covered.update(range(first, last))
        chunk = text[sentences[first].start : sentences[last - 1].end]
        assert chunk.startswith(text[sentences[first].start : sentences[first].end])
        assert chunk.endswith(text[sentences[last - 1].start : sentences[last - 1].end])
        for i in range(first, last - 1):  # no chunk bridges a gap wider than a chunk
            assert sentences[i + 1].start - sentences[i].end <= chunk_size
    assert covered == set(range(len(sentences)))


def test_one_sentence_gives_one_chunk() -> None:
    text = "Just one sentence here."
    sentences = split_sentences(text)
    assert chunk_sentences(text, sentences) == [(0, 1)]
    long_text = "word " * 70 + "end."  # longer than a chunk, shorter than MAX_SENTENCE_CHARS
    assert chunk_sentences(long_text, split_sentences(long_text), 100, 10) == [(0, 1)]


def test_no_sentences_gives_no_chunks() -> None:
    assert chunk_sentences("", []) == []
    assert chunk_sentences("---\n", split_sentences("---\n")) == []


def test_repeated_text_is_covered_in_order() -> None:
    text = "Same sentence. " * 200
    sentences = split_sentences(text)
    assert len(sentences) == 200
    ranges = chunk_sentences(text, sentences, 1000, 150)
    check_chunks(text, sentences, ranges, 1000)
    assert 3 <= len(ranges) <= 6
    assert ranges[0][0] == 0 and ranges[-1][1] == 200


def test_chunks_overlap_by_whole_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    sentences = split_sentences(text)
    ranges = chunk_sentences(text, sentences, 300, 60)
    check_chunks(text, sentences, ranges, 300)
    assert any(a < prev_last for (_, prev_last), (a, _) in zip(ranges, ranges[1:], strict=False))


def test_a_huge_blank_gap_separates_chunks() -> None:
    text = "First part. Still first.\n\n" + "\n" * 3000 + "Second part."
    sentences = split_sentences(text)
    ranges = chunk_sentences(text, sentences, 200, 20)
    check_chunks(text, sentences, ranges, 200)
    assert (0, 3) not in ranges


def test_invalid_settings_are_refused() -> None:
    sentences = split_sentences("A. B.")
    with pytest.raises(ValueError):
        chunk_sentences("A. B.", sentences, 100, 100)


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.stem)
def test_seed_documents_chunk_cleanly(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    sentences = split_sentences(text)
    ranges = chunk_sentences(text, sentences)
    check_chunks(text, sentences, ranges, 1000)
    for first, last in ranges:  # chunks stay near the configured size
        assert sentences[last - 1].end - sentences[first].start <= 2000


_WORDS = st.sampled_from(
    ["Same sentence.", "Dr.", "word", "Word", "£3bn.", "5%.", "\n", "\n\n", "\n\n\n\n", "- item",
     "Heading", "lead:", "“Quote.”", "x" * 40, "     ", "日本語"]
)
texts = st.one_of(
    st.text(max_size=600),
    st.lists(_WORDS, max_size=150).map(" ".join),
    st.builds(lambda s, n: s * n, st.sampled_from(["Same sentence. ", "A.\n\n", "ab cd. "]),
              st.integers(1, 300)),
)


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(10, 400), st.data())
def test_chunk_invariants(text: str, chunk_size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, chunk_size - 1))
    sentences = split_sentences(text)
    ranges = chunk_sentences(text, sentences, chunk_size, overlap)
    check_chunks(text, sentences, ranges, chunk_size)
