"""Hard-wrapped and messy text: wrapped lines join, structure stays, offsets stay exact."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eval.datasets import squad2_corpus
from eval.wrapped import agreement, rewrap, sentence_keys
from index.lexical import tokenize, words
from index.loaders import load_document
from index.segment import MAX_SENTENCE_CHARS, split_sentences
from index.store import load_snapshot
from retriever.corpus import Corpus

from .conftest import index_of
from .test_loaders import make_pdf, write
from .test_segment import check_spans, roles, texts

SQUAD2_CORPUS = squad2_corpus()

PARAGRAPH = (
    "The dpkg-trigger command is a tool to explicitly activate triggers and check for its "
    "support on the running dpkg. It can be used by maintainer scripts in complex and "
    "conditional situations where the file triggers, or the declarative activate triggers "
    "control file directive, are insufficiently rich. It can also be used for testing and by "
    "system administrators (but note that the triggers won't actually be run by dpkg-trigger). "
    "Unrecognised trigger name syntaxes are an error for dpkg-trigger."
)
SENTENCES = [
    "The dpkg-trigger command is a tool to explicitly activate triggers and check for its "
    "support on the running dpkg.",
    "It can be used by maintainer scripts in complex and conditional situations where the file "
    "triggers, or the declarative activate triggers control file directive, are insufficiently "
    "rich.",
    "It can also be used for testing and by system administrators (but note that the triggers "
    "won't actually be run by dpkg-trigger).",
    "Unrecognised trigger name syntaxes are an error for dpkg-trigger.",
]


def collapsed(text: str) -> list[str]:
    # textwrap also breaks after hyphens ("dpkg-\ntrigger"): undo that along with the wrapping.
    return [" ".join(re.sub(r"-\n\s*", "-", t).split()) for t in texts(text)]


def test_a_72_column_paragraph_gives_its_real_sentences() -> None:
    wrapped = textwrap.fill(PARAGRAPH, 72)
    assert wrapped.count("\n") >= 5
    assert collapsed(wrapped) == SENTENCES
    assert collapsed(textwrap.fill(PARAGRAPH, 40)) == SENTENCES
    spans = split_sentences(wrapped)
    check_spans(wrapped, spans)
    assert "\n" in wrapped[spans[1].start : spans[1].end]  # the quote runs across the break


def test_man_page_headings_and_indented_wrapped_paragraphs() -> None:
    body = textwrap.indent(textwrap.fill(PARAGRAPH, 65), "       ")
    page = (
        "NAME\n       dpkg-trigger - a package trigger utility\n\nDESCRIPTION\n" + body + "\n\n"
        "OPTIONS\n       --no-await\n              This option changes the default behaviour of\n"
        "              the activation.\n\nBUG REPORTS\n       Report bugs at the tracker with "
        "the version of dpkg and the\n       options used.\n"
    )
    found = roles(page)
    headings = [t for role, t in found if role == "heading"]
    assert {"NAME", "DESCRIPTION", "OPTIONS", "BUG REPORTS"} <= set(headings)
    prose = [" ".join(re.sub(r"-\n\s*", "-", t).split()) for role, t in found if role == "text"]
    assert all(s in prose for s in SENTENCES)
    assert "This option changes the default behaviour of the activation." in prose
    assert "Report bugs at the tracker with the version of dpkg and the options used." in prose
    check_spans(page, split_sentences(page))


def test_markdown_headings_wrapped_paragraph_and_lists() -> None:
    text = (
        "Project Title\n=============\n\n# Install\n\n" + textwrap.fill(PARAGRAPH, 72) + "\n\n"
        "Usage notes\n-----------\n\nThe tool supports:\n\n"
        "- first item that is rather long and so it is wrapped onto a second line\n"
        "  under the marker\n- second item\n* third item\n1. numbered item\n\n"
        "## Licence ##\n"
    )
    found = [(role, " ".join(re.sub(r"-\n\s*", "-", t).split())) for role, t in roles(text)]
    assert found[:2] == [("heading", "Project Title"), ("heading", "# Install")]
    assert [t for _, t in found[2:6]] == SENTENCES
    assert found[6:] == [
        ("heading", "Usage notes"),
        ("lead_in", "The tool supports:"),
        ("list_item", "first item that is rather long and so it is wrapped onto a second line "
                      "under the marker"),
        ("list_item", "second item"),
        ("list_item", "third item"),
        ("list_item", "numbered item"),
        ("heading", "## Licence ##"),
    ]


def test_structure_inside_a_wrapped_document_is_not_joined() -> None:
    wrapped = textwrap.fill(PARAGRAPH, 60)
    table = "| Name | Value |\n|------|-------|\n| alpha | one |\n| beta | two |"
    code = "```\nmake install\nsudo make check\n```"
    text = f"{wrapped}\n\n{table}\n\n{code}\n\nSee the table:\nthe values are examples.\n"
    found = texts(text)
    assert "| Name | Value |" in found and "| alpha | one |" in found
    assert "make install" in found and "sudo make check" in found
    assert "See the table:" in found  # a lead-in keeps its line
    assert not any(t.startswith("```") for t in found)  # fence lines are markup, not sentences


def test_tab_indented_wrapping_is_measured_in_columns() -> None:
    # A tab is eight columns: counted as one character, these lines look too short for the
    # unindented paragraph of the same block, and the break before "HEAD" was kept.
    text = (
        "merge [<options>] <branch>::\n"
        "\tCombine the history of the named branch with\n"
        "\tthe current one, creating a merge commit, unless\n"
        "\tHEAD already holds the branch.  In that case no\n"
        "\tcommit is made and the command says so before it\n"
        "\texits with a status of zero, which scripts can\n"
        "\tuse when they chain several commands together.\n"
        "+\n"
        "When the merge stops on a conflict, the files that need attention are\n"
        "listed, and the merge can be finished with a commit once they are all\n"
        "resolved.\n"
    )
    assert texts(text)[1] == (
        "Combine the history of the named branch with\n\tthe current one, creating a merge "
        "commit, unless\n\tHEAD already holds the branch.")


def test_fence_lines_with_an_info_string_are_not_sentences() -> None:
    text = "Example:\n\n```js\npath.basename('/a/b.html');\n// Returns: 'b.html'\n```\n\nDone.\n"
    assert texts(text) == [
        "Example:", "path.basename('/a/b.html');", "// Returns: 'b.html'", "Done."]


def test_a_line_starting_with_a_dash_or_marker_inside_wrapped_prose_is_prose() -> None:
    paragraph = (
        "In addition to colloblasts, members of the genus Haeckelia, which feed mainly on "
        "jellyfish, incorporate their victims' stinging nematocytes into their own tentacles "
        "– some nudibranchs similarly incorporate nematocytes into their bodies for defense. "
        "The best case occurs when each pivoting divides the list in half, also needing "
        "O(n log n) time."
    )
    for width in (50, 60, 72, 80):
        assert collapsed(textwrap.fill(paragraph, width)) == collapsed(paragraph)


def test_pdf_end_of_line_hyphenation_joins_the_word(tmp_path: Path) -> None:
    lines = [
        "The daemon reads its main configuration and its local configu-",
        "ration file at start-up and then it waits for the next request",
        "to arrive from the old gatehouse at the disused Franco-",
        "Prussian border station. A second sentence follows here.",
    ]
    doc = load_document(write(tmp_path / "manual.pdf", make_pdf(["\n".join(lines)])))
    found = [doc.text[s.start : s.end] for s in split_sentences(doc.text, doc.skip)]
    assert len(found) == 2
    assert "configu-\nration" in found[0] and found[0].endswith("border station.")
    assert "configuration" in words(found[0]) and "configu" not in words(found[0])
    joined = found[0].replace("configu-\nration", "configuration")
    assert tokenize(found[0]) == tokenize(joined)
    assert {"franco", "prussian"} <= set(words(found[0]))  # a capital after "-": a real hyphen
    assert words("a well-\nknown case") == ["a", "wellknown", "case"]
    assert words("the end -\nnext") == ["the", "end", "next"]


def test_a_run_without_sentence_breaks_is_cut_at_the_maximum_length() -> None:
    clauses = ", ".join(f"item number {i} of the long enumeration" for i in range(60)) + "."
    spans = split_sentences(clauses)
    check_spans(clauses, spans)
    assert len(spans) > 1
    assert all(s.end - s.start <= MAX_SENTENCE_CHARS for s in spans)
    assert all(clauses[s.end - 1] in ",." for s in spans)  # cut after a comma when one is near
    assert re.sub(r"\s", "", "".join(clauses[s.start : s.end] for s in spans)) == re.sub(
        r"\s", "", clauses
    )
    plain = " ".join(["word"] * 300)
    pieces = texts(plain)
    assert max(map(len, pieces)) <= MAX_SENTENCE_CHARS and " ".join(pieces) == plain
    blob = "x" * 900 + " tail"
    assert texts(blob) == ["x" * 900, "tail"]  # a token is never cut inside
    short = "word " * 70 + "end."
    assert texts(short) == [short]


def test_headings_are_never_answerable(tmp_path: Path, hashing_encoder) -> None:
    text = (
        "PORT OPENING TIMES\n\nThe ferry crossing reopened on 3 May 2021.\n\n"
        "Fares\n=====\n\nFares rose by 5% after the crossing reopened.\n"
    )
    index_dir = index_of(tmp_path, hashing_encoder, {"a.md": text})
    corpus = Corpus.from_snapshot(load_snapshot(index_dir))
    sentences = corpus.snapshot.content.sentences
    by_text = {s.text: (s.role, bool(corpus.answerable[i])) for i, s in enumerate(sentences)}
    assert by_text["PORT OPENING TIMES"] == ("heading", False)
    assert by_text["Fares"] == ("heading", False)
    assert by_text["The ferry crossing reopened on 3 May 2021."] == ("text", True)


# --- properties ------------------------------------------------------------------------------

_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10)


@st.composite
def prose_paragraph(draw: st.DrawFn) -> str:
    sentences = []
    for _ in range(draw(st.integers(4, 12))):
        tokens = draw(st.lists(_WORD, min_size=3, max_size=14))
        tokens[0] = tokens[0].capitalize()
        if draw(st.booleans()) and len(tokens) > 4:
            tokens[2] += ","
        sentences.append(" ".join(tokens) + draw(st.sampled_from([".", "?", "!"])))
    return " ".join(sentences)


@settings(max_examples=60, deadline=None)
@given(st.lists(prose_paragraph(), min_size=1, max_size=4), st.integers(30, 100))
def test_wrapping_prose_keeps_its_sentences(paragraphs: list[str], width: int) -> None:
    plain = "\n\n".join(paragraphs)
    wrapped = "\n\n".join(textwrap.fill(p, width) for p in paragraphs)
    check_spans(wrapped, split_sentences(wrapped))
    if all(textwrap.fill(p, width).count("\n") >= 2 for p in paragraphs):  # widths are visible
        assert sentence_keys(wrapped) == sentence_keys(plain)
        assert [s.role for s in split_sentences(wrapped)] == [
            s.role for s in split_sentences(plain)
        ]


_MESSY = st.sampled_from([
    "word", "Word", "WORD", "configu-", "-", "–", "a)", "1.", "#", "##", "===", "---", "|", ":",
    ",", ".", "e.g.", "Dr.", "```", "\t", "    ", "x" * 50,
])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_MESSY, max_size=20).map(" ".join), max_size=20), st.integers(20, 90))
def test_offsets_are_exact_for_wrapped_messy_input(lines: list[str], width: int) -> None:
    text = "\n".join(textwrap.fill(line, width) if line.strip() else "" for line in lines)
    spans = split_sentences(text)
    check_spans(text, spans)
    for span in spans:
        longest_token = max(len(t) for t in text[span.start : span.end].split())
        assert span.end - span.start <= max(MAX_SENTENCE_CHARS, longest_token)


# --- SQuAD 2.0 re-wrapped ----------------------------------------------------------------------


@pytest.mark.skipif(not SQUAD2_CORPUS.is_dir(), reason="../shared/bench is not beside the repo")
def test_rewrapped_squad_articles_keep_their_sentences() -> None:
    names = ["black-death.txt", "huguenot.txt"]
    pairs = []
    for name in names:
        plain = (SQUAD2_CORPUS / name).read_text(encoding="utf-8")
        wrapped = rewrap(plain, 72)
        assert max(len(line) for line in wrapped.splitlines()) <= 72
        check_spans(wrapped, split_sentences(wrapped))
        pairs.append((plain, wrapped))
    result = agreement(pairs)
    assert result.exact_spans and result.plain_sentences > 100
    assert result.share >= 0.98
