"""Page furniture and page breaks in PDF text (``index.pdf_pages``)."""

from __future__ import annotations

from pathlib import Path

from index.loaders import load_document
from index.pdf_pages import join_pages, running_title

from .test_loaders import make_pdf, sentences, write
from .test_segment import texts


def _book(bodies: list[str], header: str = "Widget Manual", first_page: int = 1) -> list[str]:
    return [f"{header}\n{body}\n{first_page + i}" for i, body in enumerate(bodies)]


def test_running_headers_and_page_numbers_are_dropped() -> None:
    text = join_pages(_book(["One.", "Two.", "Three.", "Four."]))
    assert text == "One.\n\nTwo.\n\nThree.\n\nFour."


def test_a_running_title_ending_in_the_page_number_is_dropped() -> None:
    # Front matter unnumbered; chapter titles change, the number runs with the page.
    pages = ["Cover text.", *[f"Chapter {1 + i // 2}: Things {i + 1}\nBody {i}." for i in range(6)]]
    assert join_pages(pages) == "Cover text.\n\n" + "\n\n".join(f"Body {i}." for i in range(6))


def test_a_numbered_heading_on_the_page_of_that_number_stays() -> None:
    pages = ["1 Introduction\nText one.\n1", "Text two.\n2", "3 Usage\nText three.\n3"]
    assert join_pages(pages) == "1 Introduction\nText one.\n\nText two.\n\n3 Usage\nText three."


def test_a_sentence_running_over_a_page_break_is_not_cut_by_a_blank_line() -> None:
    text = join_pages(_book(["The option is used when the", "file is missing.", "End.", "Done."]))
    assert text.startswith("The option is used when the\nfile is missing.\n\nEnd.")


def test_short_documents_and_lines_that_only_look_like_numbers_are_kept() -> None:
    assert join_pages(["Alpha.\n1", "Beta.\n2"]).split() == ["Alpha.", "1", "Beta.", "2"]
    pages = [f"Release notes\nFixed in {2020 + i}" for i in range(4)]
    assert join_pages(pages).count("Fixed in") == 4


def test_a_loaded_pdf_quotes_no_page_furniture(tmp_path: Path) -> None:
    pages = _book([
        "Widgets are configured in one file.",
        "The default timeout is thirty seconds unless the",
        "server says otherwise.",
        "Logs go to the journal.",
    ])
    doc = load_document(write(tmp_path / "manual.pdf", make_pdf(pages)))
    found = sentences(doc)
    assert "Widget Manual" not in found and not any(s.isdigit() for s in found)
    assert "The default timeout is thirty seconds unless the\nserver says otherwise." in found


def test_the_running_header_names_a_pdf_without_a_title(tmp_path: Path) -> None:
    assert running_title(_book(["One.", "Two.", "Three."])) == "Widget Manual"
    assert running_title(["No header.", "Here.", "Either."]) == ""
    doc = load_document(write(tmp_path / "manual.pdf", make_pdf(_book(["A.", "B.", "C."]))))
    assert doc.title == "Widget Manual"


def test_table_of_contents_entries_are_not_sentences() -> None:
    pages = ["Contents\n1 Introduction . . . . . . . . 1\n2 Usage . . . . . . . . . . 3\n"
             "Index .............. 9", "1 Introduction\nWidgets are small."]
    text = join_pages(pages)
    assert texts(text) == ["Contents", "1 Introduction", "Widgets are small."]


def test_a_long_line_holding_a_leader_is_prose() -> None:
    line = ("Contents: Methods . . . . . . . 12 Results . . . . . . . 14 — the abstract that "
            "follows describes a study of tyrosine in rats fed for twelve weeks, and its outcome.")
    assert texts(line) != []
