"""Loaders: every format, metadata sources, boilerplate skipping and every refusal reason."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest
from pypdf import PdfWriter

from index.boilerplate import find_boilerplate
from index.loaders import discover, load_document
from index.records import LoadedDocument, LoadError
from index.segment import split_sentences
from index.sources import find_sources

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def sentences(doc: LoadedDocument) -> list[str]:
    return [doc.text[s.start : s.end] for s in split_sentences(doc.text, doc.skip)]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF, one Helvetica text line per input line (xref offsets computed)."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for page_id, text in zip(page_ids, pages, strict=True):
        ops = ["BT /F1 12 Tf 72 720 Td 16 TL"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1") if text else b"0 0 m 100 100 l S"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# --- discover --------------------------------------------------------------------------------


def test_discover_walks_folders_filters_and_sorts(tmp_path: Path) -> None:
    for name in ["b.txt", "a/x.md", "a/y.markdown", "a/z.HTML", "a/deep/p.pdf", "a/q.htm"]:
        write(tmp_path / name, "text")
    for name in [".hidden.txt", "a/.git/c.txt", "a/x.meta.json", "a/notes.rtf", "a/r.json"]:
        write(tmp_path / name, "text")
    single = write(tmp_path / "elsewhere" / "one.txt", "text")
    found = discover([tmp_path, single])
    expected = ["a/deep/p.pdf", "a/q.htm", "a/x.md", "a/y.markdown", "a/z.HTML", "b.txt",
                "elsewhere/one.txt"]
    assert found == sorted(tmp_path / name for name in expected)


def test_discover_refuses_missing_paths_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        discover([tmp_path / "missing"])
    with pytest.raises(LoadError, match="unsupported"):
        discover([write(tmp_path / "x.rtf", "text")])


def test_links_are_followed_only_inside_the_ingested_folder(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    secret = write(outside / "secret.txt", "The secret is 42.\n")
    write(corpus / "real.txt", "Real text.\n")
    (corpus / "passwd.txt").symlink_to(secret)
    (corpus / "alias.txt").symlink_to(corpus / "real.txt")
    sources = {s.path.name: s for s in find_sources([corpus])}
    assert set(sources) == {"alias.txt", "passwd.txt", "real.txt"}  # listed, so reported
    assert sources["passwd.txt"].root == corpus.resolve()
    assert load_document(corpus / "alias.txt").text == "Real text.\n"
    # Named on its own, a link is confined to its own folder too (a shell glob names each file).
    with pytest.raises(LoadError, match="outside the ingested folder") as info:
        load_document(corpus / "passwd.txt")
    assert "--follow-external-symlinks" in info.value.reason
    assert str(secret) in info.value.reason
    followed = load_document(corpus / "passwd.txt", follow_external_symlinks=True)
    assert followed.text == "The secret is 42.\n"
    assert find_sources([corpus], follow_external_symlinks=True)[0].root is None


def test_a_sidecar_linking_outside_the_folder_is_refused(tmp_path: Path) -> None:
    meta = write(tmp_path / "outside" / "x.meta.json", json.dumps({"title": "Leaked"}))
    doc = write(tmp_path / "corpus" / "x.txt", "Some text.\n")
    (tmp_path / "corpus" / "x.meta.json").symlink_to(meta)
    with pytest.raises(LoadError, match="sidecar .*outside the ingested folder"):
        load_document(doc)


def _load_in_thread(path: Path, unblock: Path) -> LoadError:
    """Load ``path`` in a thread; fail (after unblocking it) if it does not return promptly."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            load_document(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))  # a writer releases the reader
        pytest.fail(f"loading {path.name} blocked on a named pipe")
    assert outcome and isinstance(outcome[0], LoadError), outcome
    return outcome[0]


def test_named_pipes_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link.txt").symlink_to(fifo)
    os.mkfifo(tmp_path / "direct.txt")
    assert "cannot read (a named pipe" in _load_in_thread(tmp_path / "link.txt", fifo).reason
    direct = _load_in_thread(tmp_path / "direct.txt", tmp_path / "direct.txt")
    assert "a named pipe, not a regular file" in direct.reason
    # Found by name like any file, so that ingest reports it instead of passing it over.
    assert [s.path.name for s in find_sources([tmp_path])] == ["direct.txt", "link.txt"]


def test_a_sidecar_nested_a_thousand_deep_is_a_load_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.txt", "Some text.\n")
    write(tmp_path / "x.meta.json", "[" * 1000 + "]" * 1000)  # 2 KB
    with pytest.raises(LoadError, match="nested too deeply") as info:
        load_document(path)
    assert "x.meta.json" in info.value.reason


# --- plain text and Markdown -----------------------------------------------------------------


def test_text_is_kept_exactly_except_a_leading_bom(tmp_path: Path) -> None:
    body = "  First line  \r\nSecond\u00a0line.\n\n\nThird line.   \n"
    doc = load_document(write(tmp_path / "doc-1.txt", "\ufeff" + body))
    assert doc.text == body
    assert doc.doc_id == "doc-1"
    assert doc.source_path == str(tmp_path / "doc-1.txt")
    assert doc.title == "First line"
    assert doc.url is None and doc.date is None
    assert sentences(doc) == ["First line", "Second\u00a0line.", "Third line."]


def test_a_first_line_that_is_a_sentence_is_no_title_the_file_name_is(tmp_path: Path) -> None:
    # A sentence cut to length reads as a fragment in a citation's link text.
    doc = load_document(write(tmp_path / "t.txt", "word " * 100 + "\nMore."))
    assert doc.title == "T"
    text = "The council approved the budget on Monday after a long debate.\nMore text.\n"
    doc = load_document(write(tmp_path / "annual_report-2024.txt", text))
    assert doc.title == "Annual report 2024"
    doc = load_document(write(tmp_path / "notes.txt", "- first item\n- second item\n"))
    assert doc.title == "Notes"  # a list item is not a title either


@pytest.mark.parametrize(
    ("first_line", "title"),
    [
        ("Manchester and Liverpool universities pledge increased collaboration",
         "Manchester and Liverpool universities pledge increased collaboration"),
        ("PORT OPENING TIMES", "PORT OPENING TIMES"),
        ("What is the innovation corridor?", "What is the innovation corridor?"),
        ("  \n***\n  Annual Report 2024  ", "Annual Report 2024"),  # blank lines and rules first
        ("Signed on Monday.", "Q3 review"),  # a sentence
        ("Contents:", "Q3 review"),  # a lead-in
        ("one two three four five six seven eight nine ten eleven twelve thirteen", "Q3 review"),
    ],
)
def test_txt_title_is_a_title_like_first_line_else_the_file_name(
    tmp_path: Path, first_line: str, title: str
) -> None:
    doc = load_document(write(tmp_path / "Q3-review.txt", first_line + "\n\nBody text here.\n"))
    assert doc.title == title


def test_metadata_titles_still_win_over_the_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.md", "Short Line\n\n# Real Heading\n\nText.\n"))
    assert doc.title == "Real Heading"
    doc = load_document(write(tmp_path / "b.txt", "---\ntitle: From Front\n---\nShort Line\n"))
    assert doc.title == "From Front"
    path = write(tmp_path / "c.txt", "Short Line\n\nText.\n")
    write(tmp_path / "c.meta.json", json.dumps({"title": "From Sidecar"}))
    assert load_document(path).title == "From Sidecar"


def test_markdown_front_matter_gives_metadata_and_is_skipped(tmp_path: Path) -> None:
    text = (
        "---\ntitle: \"Custom Title\"\nurl: https://example.org/x\ndate: 2024-11-27\n"
        "tags: [a, b]\n---\n# Heading One\n\nBody text here. Second sentence.\n"
    )
    doc = load_document(write(tmp_path / "post.md", text))
    assert doc.text == text
    assert (doc.title, doc.url, doc.date) == ("Custom Title", "https://example.org/x", "2024-11-27")
    fence_end = text.index("---\n# ") + 3
    assert any(s.start == 0 and s.end == fence_end for s in doc.skip)
    assert sentences(doc) == ["# Heading One", "Body text here.", "Second sentence."]


def test_markdown_title_is_the_first_heading(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "post.md", "Intro line\n\n## The Heading ##\n\nText.\n"))
    assert doc.title == "The Heading"
    doc = load_document(write(tmp_path / "plain.md", "---\nnot front matter\n"))
    # An unclosed fence is a horizontal rule, not front matter, and a rule is not a title.
    assert doc.title == "not front matter"


def test_text_front_matter_works_for_txt_too(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.txt", "---\ndate: 2026-02-19\n---\nSigned today.\n"))
    assert doc.date == "2026-02-19"
    assert doc.title == "A"  # the first line is a sentence, so the file name gives the title
    assert sentences(doc) == ["Signed today."]


def test_sidecar_overrides_front_matter(tmp_path: Path) -> None:
    front = "---\nurl: https://front.example\ndate: 2024-01-02\n---\nHello there.\n"
    path = write(tmp_path / "news.md", front)
    sidecar = {"title": "Side", "url": "https://side.example", "date": None, "extra": [1, 2]}
    write(tmp_path / "news.meta.json", json.dumps(sidecar))
    doc = load_document(path)
    assert (doc.title, doc.url, doc.date) == ("Side", "https://side.example", "2024-01-02")


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [("{not json", "not valid JSON"), ("[1, 2]", "JSON object"), ('{"url": 5}', "'url' must be")],
)
def test_bad_sidecar_is_a_load_error_naming_it(tmp_path: Path, sidecar: str, reason: str) -> None:
    path = write(tmp_path / "doc.txt", "Some text.")
    write(tmp_path / "doc.meta.json", sidecar)
    with pytest.raises(LoadError, match=reason) as info:
        load_document(path)
    assert "doc.meta.json" in info.value.reason


def test_latin1_and_cp1252_files_are_decoded_not_refused(tmp_path: Path) -> None:
    body = ("Caf\xe9 cr\xe8me costs 5 \u20ac.\n\n"
            "The \u201cM\xfcnchen\u201d office opened \u2013 in 2024.\n")
    doc = load_document(write(tmp_path / "legacy.txt", body.encode("cp1252")))
    assert doc.text == body  # the served text is the decoded text, so offsets index into it
    assert sentences(doc)[0] == "Caf\xe9 cr\xe8me costs 5 \u20ac."
    short = load_document(write(tmp_path / "short.txt", "caf\xe9 cr\xe8me".encode("latin-1")))
    assert short.text == "caf\xe9 cr\xe8me"  # too short to detect: many pages tie, cp1252 wins
    page = b"<html><body><p>Stra\xdfe und Gr\xfc\xdfe aus M\xfcnchen.</p></body></html>"
    assert load_document(write(tmp_path / "page.html", page)).text == (
        "Stra\xdfe und Gr\xfc\xdfe aus M\xfcnchen.")


def test_utf16_with_a_bom_is_decoded_and_binary_is_still_refused(tmp_path: Path) -> None:
    body = "First line.\nSecond line.\n"
    doc = load_document(write(tmp_path / "wide.txt", body.encode("utf-16")))
    assert doc.text == body
    with pytest.raises(LoadError, match="binary data.*offset 5") as info:
        load_document(write(tmp_path / "bin.txt", b"Hello\x00\xff\xfe world"))
    assert info.value.path == str(tmp_path / "bin.txt")


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n", "\ufeff \n".encode()])
def test_empty_files_are_refused(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(LoadError, match="empty"):
        load_document(write(tmp_path / "empty.txt", content))


def test_too_large_and_unreadable_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="too large"):
        load_document(write(tmp_path / "big.txt", "x" * 100), max_bytes=10)
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(LoadError, match="cannot read"):
        load_document(folder)
    with pytest.raises(LoadError, match="cannot read"):
        load_document(tmp_path / "missing.txt")
    with pytest.raises(LoadError, match="unsupported"):
        load_document(write(tmp_path / "x.rtf", "text"))


# --- boilerplate -----------------------------------------------------------------------------


def test_seed_002_boilerplate_never_becomes_a_sentence() -> None:
    doc = load_document(SEEDS / "002_369cd4c735e1a5a7.txt")
    assert doc.text == (SEEDS / "002_369cd4c735e1a5a7.txt").read_text(encoding="utf-8")
    found = sentences(doc)
    for phrase in ["Skip to content", "Contact us", "By submitting this form", "Media enquiries",
                   "Privacy Policy", "Useful contact"]:
        assert not any(phrase in s for s in found), phrase
    assert any("chaired by Dr. Jon Hague" in s for s in found)
    assert doc.title == "002 369cd4c735e1a5a7"  # its first content line is a long sentence


def test_boilerplate_rules_are_general() -> None:
    text = (
        "Skip to main content\nMenu\nSearch\nLog in\nReal news about the region.\n"
        "We use cookies to improve this site. Accept all cookies\nSign up to our newsletter today\n"
        "Share this\nRead more »\nImage credit: Getty\n"
        "For further information, please contact Jo.\n"
        "  Useful contacts\nThe Search for talent continues across the region.\n"
    )
    spans = find_boilerplate(text)
    assert all("\n" not in text[s.start : s.end] for s in spans)
    flagged = {text[s.start : s.end] for s in spans}
    kept = [line for line in text.splitlines() if line not in flagged]
    # A contact sentence is content (who to ask is a fair question), not chrome.
    assert kept == ["Real news about the region.",
                    "For further information, please contact Jo.",
                    "The Search for talent continues across the region."]


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title> Page  Title </title><style>.x { color: red }</style>
<script>var s = "Skip to content";</script>
<link rel="canonical" href="https://example.org/page">
<meta property="article:published_time" content="2024-11-27"></head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
<header><nav><ul><li><a href="/">Home</a></li><li>About</li></ul></nav></header>
<div id="cookie-banner">Cookies help us. <button>Accept all</button></div>
<main id="main">
<article><header><h1>The Big   Heading</h1></header>
<p>First   paragraph
 with  spaces. Second&nbsp;sentence.</p>
<p>Lead in:</p>
<ul><li>Item one</li><li>Item <b>two</b></li></ul>
<div class="share-buttons">Share on Twitter</div>
<noscript>Enable JavaScript</noscript><template><p>Template text</p></template>
<p hidden>Hidden text</p><p style="display: none">Invisible</p>
<table><tr><td>Jobs</td><td>40,000</td></tr></table>
<p>Line one<br>Line two</p>
<p>Contact us</p>
<form><label>Email</label><input name="e"><button>Subscribe</button></form>
</article></main>
<aside>Related stories</aside>
<div class="newsletter-signup">Get our newsletter</div>
<footer>Copyright 2024</footer>
<svg><text>Logo</text></svg><iframe src="x"></iframe>
</body></html>"""


def test_html_visible_text_only(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "page.html", PAGE))
    assert doc.text == (
        "The Big Heading\n\nFirst paragraph with spaces. Second sentence.\n\nLead in:\n\n"
        "- Item one\n- Item two\n\nJobs 40,000\n\nLine one\nLine two\n\nContact us"
    )
    assert doc.title == "Page Title"
    assert (doc.url, doc.date) == ("https://example.org/page", "2024-11-27")
    found = sentences(doc)
    assert "Contact us" not in found  # boilerplate rules run on extracted text as a second net
    assert found[:3] == ["The Big Heading", "First paragraph with spaces.", "Second sentence."]
    roles = {doc.text[s.start : s.end]: s.role for s in split_sentences(doc.text, doc.skip)}
    assert roles["Lead in:"] == "lead_in" and roles["Item two"] == "list_item"


def test_html_definition_terms_share_a_line_with_their_description(tmp_path: Path) -> None:
    page = (
        "<html><body><dl><dt><code>-l, --mathlib</code></dt>\n<dd><p>Define the standard math "
        "library.\n</p></dd><dt>-q</dt><dt>--quiet</dt><dd>Say less. Much less.</dd>"
        "<dt>Modes</dt><dd><ul><li>fast</li><li>safe</li></ul></dd></dl>"
        "<p>After the list.</p></body></html>"
    )
    doc = load_document(write(tmp_path / "manual.html", page))
    # The sentence that says what an option does also names it; a list keeps its own lines.
    assert sentences(doc) == [
        "-l, --mathlib Define the standard math library.", "-q --quiet Say less.", "Much less.",
        "Modes", "fast", "safe", "After the list.",
    ]


def test_manual_page_links_are_navigation(tmp_path: Path) -> None:
    nav = (
        '<div class="header"><p>Next: <a href="b.html" rel="next">Types</a>, Previous: '
        '<a href="a.html" rel="prev">Basics</a>, Up: <a href="i.html" rel="up">Using it</a> '
        '[<a href="x.html" rel="index">Index</a>]</p></div>'
    )
    page = (f"<html><body><div class='section'>{nav}<h3>2.3 Types</h3><ul><li>Primitive</li>"
            "<li>Structures</li></ul><p>Types are described below.</p></div></body></html>")
    doc = load_document(write(tmp_path / "types.html", page))
    assert "Next:" not in doc.text and "Previous:" not in doc.text
    assert sentences(doc) == ["2.3 Types", "Primitive", "Structures", "Types are described below."]
    # Links that are part of the prose stay.
    prose = ('<html><body><p>See the <a rel="next" href="n.html">next chapter</a> and the '
             '<a rel="prev" href="p.html">previous one</a> for the details.</p></body></html>')
    assert "next chapter" in load_document(write(tmp_path / "prose.html", prose)).text


def test_html_title_falls_back_to_h1_then_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.htm", "<body><p>Intro.</p><h1>Main</h1></body>"))
    assert doc.title == "Main"
    doc = load_document(write(tmp_path / "b.html", "<p>Only a paragraph.</p>"))
    assert doc.title == "B"  # a sentence is no title: the file name is
    doc = load_document(write(tmp_path / "c.html", "<p>Short Heading</p><p>Body.</p>"))
    assert doc.title == "Short Heading"


def test_html_without_visible_text_is_refused(tmp_path: Path) -> None:
    page = "<html><head><title>T</title></head><body><script>x()</script><nav>Menu</nav></body>"
    with pytest.raises(LoadError, match="no visible text"):
        load_document(write(tmp_path / "blank.html", page))


def test_nested_html_loads_and_hostile_nesting_is_refused(tmp_path: Path) -> None:
    page = "<div>" * 150 + "Deep text." + "</div>" * 150
    assert load_document(write(tmp_path / "deep.html", page)).text == "Deep text."
    hostile = "<div>" * 20_000 + "Deep text." + "</div>" * 20_000
    with pytest.raises(LoadError, match="nested more than 200 levels"):
        load_document(write(tmp_path / "hostile.html", hostile))


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_pages_are_joined_by_blank_lines(tmp_path: Path) -> None:
    data = make_pdf(["Hello from page one. It has (parens).", "Page two text."])
    doc = load_document(write(tmp_path / "report.pdf", data))
    assert doc.doc_id == "report"
    assert doc.text == "Hello from page one. It has (parens).\n\nPage two text."
    assert doc.title == "Report"  # no metadata title, and the first line is a sentence
    assert sentences(doc) == ["Hello from page one.", "It has (parens).", "Page two text."]


def test_broken_pdf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="broken PDF"):
        load_document(write(tmp_path / "broken.pdf", b"%PDF-1.4\nthis is not really a pdf"))
    with pytest.raises(LoadError, match="PDF"):
        load_document(write(tmp_path / "cut.pdf", make_pdf(["Some text."])[:60]))


def test_pdf_without_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no extractable text"):
        load_document(write(tmp_path / "scan.pdf", make_pdf([""])))


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(["Secret text."])))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="encrypted"):
        load_document(write(tmp_path / "locked.pdf", encrypted_pdf("secret")))


def test_pdf_with_only_an_owner_password_loads(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "restricted.pdf", encrypted_pdf("")))
    assert doc.text == "Secret text."


# --- Word (.docx) ----------------------------------------------------------------------------


def make_docx(path: Path, *, title: str = "", heading: str = "Background") -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    if heading:
        document.add_heading(heading, level=1)
    document.add_paragraph("The hub opened in Wirral in 2024. It employs 120 people.")
    document.add_heading("Partners", level=2)
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Partner", "Role"), ("Innovate UK", "Funding")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("The partnership runs until 2030.")
    document.save(path)
    return path


def test_docx_paragraphs_headings_and_tables(tmp_path: Path) -> None:
    doc = load_document(make_docx(tmp_path / "report.docx"))
    assert doc.text == (
        "# Background\n\nThe hub opened in Wirral in 2024. It employs 120 people.\n\n"
        "## Partners\n\nPartner | Role\nInnovate UK | Funding\n\nThe partnership runs until 2030."
    )
    assert doc.title == "Background" and doc.doc_id == "report"
    roles = {doc.text[s.start : s.end]: s.role for s in split_sentences(doc.text, doc.skip)}
    assert roles["# Background"] == "heading" and roles["## Partners"] == "heading"
    assert roles["The partnership runs until 2030."] == "text"


def test_docx_title_from_properties_else_heading_else_file_name(tmp_path: Path) -> None:
    titled = make_docx(tmp_path / "a.docx", title="Annual Report 2024")
    assert load_document(titled).title == "Annual Report 2024"
    assert load_document(make_docx(tmp_path / "b.docx", heading="")).title == "Partners"
    import docx

    document = docx.Document()
    document.add_paragraph("The hub opened in Wirral in 2024.")  # prose: no title
    document.save(tmp_path / "wirral_hub-notes.docx")
    assert load_document(tmp_path / "wirral_hub-notes.docx").title == "Wirral hub notes"


def test_corrupt_and_bomb_docx_are_load_errors(tmp_path: Path) -> None:
    import zipfile

    with pytest.raises(LoadError, match="not a Word document"):
        load_document(write(tmp_path / "fake.docx", b"PK\x03\x04 not really a zip"))
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 210_000_000)  # a few hundred KB packed
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(LoadError, match="decompression bomb"):
        load_document(bomb)
    with zipfile.ZipFile(tmp_path / "empty.docx", "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    with pytest.raises(LoadError, match="broken Word document"):
        load_document(tmp_path / "empty.docx")
    with pytest.raises(LoadError, match="too large"):
        load_document(make_docx(tmp_path / "big.docx"), max_bytes=1_000)
