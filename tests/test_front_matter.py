"""Front matter: its metadata, and a span that is exact in the text as decoded (citations are
offsets into that text, so the block is skipped, never cut out)."""

from __future__ import annotations

import pytest

from index.front_matter import MAX_FRONT_MATTER_CHARS, parse_front_matter
from index.records import Span


def _block_end(text: str, fence: str) -> int:
    """Where the closing fence line ends (before its line break): the span's end."""
    return text.index(fence, 3) + len(fence)


def test_metadata_and_the_span_up_to_the_closing_fence() -> None:
    text = (
        "---\ntitle: \"Custom Title\"\nurl: https://example.org/x\ndate: 2024-11-27\n"
        "tags: [a, b]\n---\n# Heading One\n\nBody text here.\n"
    )
    meta, span = parse_front_matter(text)
    assert meta == {"title": "Custom Title", "url": "https://example.org/x", "date": "2024-11-27"}
    assert span == Span(0, _block_end(text, "\n---"))
    assert text[span.end :] == "\n# Heading One\n\nBody text here.\n"  # the body, not stripped


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028"])
def test_the_span_is_exact_for_every_line_break(newline: str) -> None:
    text = newline.join(["---", "title: Breaks", "---  ", "", "Body."])
    meta, span = parse_front_matter(text)
    assert meta == {"title": "Breaks"}
    assert span == Span(0, text.index("---  ") + len("---  "))  # trailing blanks included


def test_a_yaml_document_end_closes_the_block_too() -> None:
    text = "---\ntitle: Pandoc style\n...\nBody."
    assert parse_front_matter(text) == ({"title": "Pandoc style"}, Span(0, len(text) - 6))


@pytest.mark.parametrize("text", [
    "---\nnot front matter\n",  # never closed: a horizontal rule
    "Intro\n---\ntitle: x\n---\n",  # not at the very top
    " ---\ntitle: x\n---\n",
    "----\ntitle: x\n----\n",  # a longer rule is not a fence
    "...\ntitle: x\n...\n",  # "..." only closes
    "---",
])
def test_no_block_without_an_opening_and_a_closing_fence(text: str) -> None:
    assert parse_front_matter(text) == ({}, None)


def test_values_are_the_strings_as_written() -> None:
    text = (
        "---\nTitle: 'It''s here'  # a comment\ndate: 2024-11-27T10:00:00Z\nurl: null\n"
        "draft: yes\nweight: 10\nsummary: a long\n  line, folded\nauthor:\n  name: Someone\n"
        "empty:\n---\n"
    )
    meta, _ = parse_front_matter(text)
    # No type resolution: dates, null, booleans and numbers stay as written; keys are lower-cased.
    assert meta == {
        "title": "It's here", "date": "2024-11-27T10:00:00Z", "url": "null", "draft": "yes",
        "weight": "10", "summary": "a long line, folded",
    }


@pytest.mark.parametrize("block", [
    "title: Part 2: The Return",  # not valid YAML
    "just a sentence",  # a scalar, not a mapping
    "- a\n- b",
    "a: " + "[" * 5_000 + "]" * 5_000,  # nested past any loader's depth
])
def test_a_block_that_is_not_a_yaml_mapping_gives_no_metadata_but_is_skipped(block: str) -> None:
    text = f"---\n{block}\n---\nBody."
    assert parse_front_matter(text) == ({}, Span(0, len(text) - len("\nBody.")))


def test_an_oversized_block_is_skipped_without_being_parsed() -> None:
    block = "title: Big\n" + "k: v\n" * (MAX_FRONT_MATTER_CHARS // 5)
    text = f"---\n{block}---\nBody."
    assert parse_front_matter(text) == ({}, Span(0, len(text) - len("\nBody.")))
