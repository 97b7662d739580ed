"""Load source files (.txt .md .html .pdf .docx) into ``LoadedDocument`` records.

Text and Markdown files keep their exact decoded text, because citations point into it; HTML and
PDF become extracted visible text. Every failure is a ``LoadError`` with a short human reason, so
the ingest loop can report the file and carry on. Which files are read, and how safely, is
``sources.py``; titles without metadata are ``titles.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from lxml import etree
from lxml import html as lxml_html

from .boilerplate import find_boilerplate
from .deadline import Deadline, check
from .docx_text import load_docx
from .encoding import decode_text
from .front_matter import parse_front_matter
from .pdf_text import load_pdf
from .records import LoadedDocument, LoadError, Span
from .sources import DOCX_SUFFIXES as DOCX_SUFFIXES
from .sources import HTML_SUFFIXES as HTML_SUFFIXES
from .sources import MARKDOWN_SUFFIXES as MARKDOWN_SUFFIXES
from .sources import PDF_SUFFIXES as PDF_SUFFIXES
from .sources import SIDECAR_SUFFIX as SIDECAR_SUFFIX
from .sources import SUPPORTED_SUFFIXES as SUPPORTED_SUFFIXES
from .sources import TEXT_SUFFIXES as TEXT_SUFFIXES
from .sources import Source, read_source, sidecar_for
from .sources import discover as discover
from .titles import MAX_TITLE_CHARS as MAX_TITLE_CHARS
from .titles import clip_title, markdown_heading, name_title, title_line

# HTML nested deeper than this is refused before BeautifulSoup sees it (its tree building is
# quadratic in the depth); real pages stay well under 100 levels.
MAX_HTML_DEPTH = 200
MAX_SIDECAR_BYTES = 1_000_000
_META_KEYS = ("title", "url", "date")


# --- HTML -----------------------------------------------------------------------------------

# Elements whose content is never the page's prose.
_DROP_TAGS = frozenset({
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
    "embed", "canvas", "nav", "aside", "form", "button", "select", "input", "label",
    "textarea", "dialog", "menu",
})
# Page-level header/footer are site chrome; inside <article>/<main> they hold the headline/byline.
_CHROME_TAGS = frozenset({"header", "footer"})
_CONTENT_TAGS = frozenset({"article", "main"})
_NEVER_DROP = frozenset({"html", "body", "main", "article"})
# Block elements end a line; the "paragraph" ones also leave a blank line around them.
_PARAGRAPH_TAGS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
    "section", "article", "main", "header", "footer", "figure", "address", "details", "hr",
    "hgroup", "fieldset",
})
_LINE_TAGS = frozenset({
    "div", "ul", "ol", "dl", "li", "tr", "dt", "dd", "br", "figcaption", "caption", "summary",
    "legend", "center", "body", "html", "option", "thead", "tbody", "tfoot",
})
_CELL_TAGS = frozenset({"td", "th"})
# What may follow a <dt> on its line: the description and its first paragraph, another term of
# the same description ("-P <prefix>", "--prefix=<prefix>"), or inline markup.
_TERM_CONTINUES = frozenset({"dd", "p", "dt"}) | frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark",
    "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr",
})
_CHROME_ROLES = frozenset({
    "navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar",
    "dialog", "alertdialog", "toolbar",
})
# Class/id words: substrings for distinctive words, whole tokens for short ambiguous ones.
_CHROME_SUBSTRINGS = re.compile(
    r"cookie|consent|gdpr|newsletter|subscri|breadcrumb|skip-?link|skip-?to|"
    r"social-?(?:share|links|media|icons|buttons|follow|nav)|share-?(?:bar|buttons|links|tools)|"
    r"sharing|"
    r"modal|popup|navbar|navigation|mega-?menu|site-?header|site-?footer",
)
_CHROME_TOKENS = frozenset({"nav", "menu", "share", "skip", "banner", "masthead"})
_CHROME_NAMES = frozenset({"social", "socials", "sidebar-social"})  # whole class/id values only
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
_PAGE_RELS = frozenset({"next", "prev", "previous", "up", "first", "last"})
_PAGE_LINK_BLOCKS = frozenset({"div", "p", "table", "tr", "td", "span"})
_MAX_PAGE_LINKS = 8
_MAX_PAGE_LINKS_CHARS = 300
_PAGE_LINK_LABELS = frozenset({"next", "previous", "prev", "up", "top", "home", "contents",
                               "index", "first", "last", "page"})
_WORDS = re.compile(r"[^\W\d_]+")
_PAGE_CONTENT = ["h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "section",
                 "article", "main", "img", "figure"]
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class HtmlPage:
    text: str
    title: str
    h1: str
    url: str | None
    date: str | None


def _is_page_links(tag: Tag) -> bool:
    """A short block of "Next: … Previous: … Up: …" links (Texinfo, DocBook and other manual
    generators mark them ``rel="next"`` and so on): navigation between a manual's pages."""
    if tag.name not in _PAGE_LINK_BLOCKS:
        return False
    rels = 0
    for link in tag.find_all("a", rel=True, limit=_MAX_PAGE_LINKS):
        value = link.get("rel")
        words = value if isinstance(value, list) else str(value or "").split()
        rels += not _PAGE_RELS.isdisjoint(w.lower() for w in words)
    if rels < 2 or len(tag.get_text(" ", strip=True)) > _MAX_PAGE_LINKS_CHARS:
        return False
    if tag.find(_PAGE_CONTENT) is not None:
        return False  # a short page around its links: content
    # Besides the links, only their labels ("Next:", "Previous:", "Up:"): not a sentence that
    # happens to link to the next chapter.
    outside = " ".join(str(text) for text in tag.find_all(string=True)
                       if text.find_parent("a") is None)
    return set(_WORDS.findall(outside.lower())) <= _PAGE_LINK_LABELS


def _is_chrome(tag: Tag) -> bool:
    """Whether an element is navigation, consent, sharing or otherwise not the page's content."""
    if _is_page_links(tag):
        return True
    if not tag.attrs or tag.name in _NEVER_DROP:
        return False
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    if _HIDDEN_STYLE.search(str(tag.get("style", "")).lower()):
        return True
    if str(tag.get("role", "")).lower() in _CHROME_ROLES:
        return True
    classes = tag.get("class")
    names = classes if isinstance(classes, list) else [str(classes or "")]
    names = [*names, str(tag.get("id", ""))]
    words = " ".join(names).lower()
    labelled = (
        _CHROME_SUBSTRINGS.search(words) is not None
        or not _CHROME_TOKENS.isdisjoint(_TOKEN_SPLIT.split(words))
        or not _CHROME_NAMES.isdisjoint(words.split())
    )
    # A wrapper that holds the main content is mis-labelled, not chrome.
    return labelled and tag.find(_CONTENT_TAGS) is None


class _Lines:
    """Accumulates visible text into lines separated by at most one blank line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer: list[str] = []
        self.gap = 0  # 0: same paragraph, 1: new line, 2: blank line before the next line
        self.bullet = False
        # After a definition term (<dt>), its description's first paragraph continues the line.
        self.after_term = False

    def add(self, text: str) -> None:
        self.buffer.append(text)
        if text.strip():
            self.after_term = False

    def brk(self, gap: int) -> None:
        line = _SPACES.sub(" ", "".join(self.buffer)).strip()
        self.buffer = []
        if line:
            if self.lines:
                self.lines.append("\n" * max(self.gap, 1))
            self.lines.append(f"- {line}" if self.bullet else line)
            self.gap = 0
            self.bullet = False
        self.gap = max(self.gap, gap)

    def text(self) -> str:
        self.brk(0)
        return "".join(self.lines)


def _walk_visible(root: Tag, deadline: Deadline | None = None) -> str:
    """Visible text of ``root``, walked with an explicit stack so deep nesting cannot recurse."""
    out = _Lines()
    content_depth = 0  # how many <article>/<main> we are inside
    stack: list[tuple[PageElement, bool]] = [(root, False)]
    while stack:
        check(deadline)
        node, leaving = stack.pop()
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # comments, CDATA, doctype are subclasses
                out.add(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if leaving:
            content_depth -= name in _CONTENT_TAGS
            if name == "dt" and "".join(out.buffer).strip():
                # "-l, --mathlib" + "Define the standard math library.": one line, so the
                # sentence that describes an option, variable or term also names it.
                out.add(" ")
                out.after_term = True
            elif name in _PARAGRAPH_TAGS or name in _LINE_TAGS:
                out.brk(2 if name in _PARAGRAPH_TAGS else 1)
                out.bullet = out.bullet and name != "li"  # an empty item marks nothing after it
            elif name in _CELL_TAGS:
                out.add(" ")
            continue
        if name in _DROP_TAGS or (name in _CHROME_TAGS and not content_depth) or _is_chrome(node):
            continue
        if out.after_term and name not in _TERM_CONTINUES:
            out.after_term = False  # a list, table or code block: the term keeps its own line
            out.brk(1)
        if (name in _PARAGRAPH_TAGS or name in _LINE_TAGS) and not out.after_term:
            out.brk(2 if name in _PARAGRAPH_TAGS else 1)
        if name == "li":
            out.bullet = True  # so the segmenter sees a list item
        if name == "pre":
            for piece in node.get_text().split("\n"):
                out.add(piece)
                out.brk(1)
            out.brk(2)
            continue
        content_depth += name in _CONTENT_TAGS
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    return out.text()


def _meta_content(soup: BeautifulSoup, *keys: str) -> str | None:
    for key in keys:
        for attr in ("property", "name", "itemprop"):
            tag = soup.find("meta", attrs={attr: key})
            if isinstance(tag, Tag) and str(tag.get("content", "")).strip():
                return str(tag["content"]).strip()
    return None


def extract_html(source: str, deadline: Deadline | None = None) -> HtmlPage:
    """Visible text and metadata of an HTML page (the text citations will point into)."""
    soup = BeautifulSoup(source, "lxml")
    check(deadline)
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    canonical = soup.find("link", rel="canonical")
    url = None
    if isinstance(canonical, Tag) and canonical.get("href"):
        url = str(canonical["href"]).strip()
    return HtmlPage(
        text=_walk_visible(soup, deadline),
        title=title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else "",
        h1=h1.get_text(" ", strip=True) if isinstance(h1, Tag) else "",
        url=url or _meta_content(soup, "og:url"),
        date=_meta_content(soup, "article:published_time", "datePublished", "date"),
    )


def _decode_text(path: Path, data: bytes) -> str:
    """The file's text: UTF-8 when it is valid UTF-8, else the detected legacy encoding (see
    ``encoding.py``). The served and cited text is this decoded text, so offsets stay exact."""
    return decode_text(str(path), data).text


def _check_not_blank(path: Path, text: str) -> None:
    if not text.strip():
        raise LoadError(str(path), "empty (no text)")


def _read_sidecar(source: Source) -> dict[str, str]:
    path = source.path
    sidecar = sidecar_for(path)
    if sidecar is None:
        return {}
    try:
        data = read_source(sidecar, source.root, MAX_SIDECAR_BYTES)
    except LoadError as exc:
        raise LoadError(str(path), f"sidecar {sidecar}: {exc.reason}") from None
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise LoadError(str(path), f"sidecar {sidecar} is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise LoadError(
            str(path), f"sidecar {sidecar} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    except RecursionError:  # the C scanner recurses once per nested array or object
        raise LoadError(str(path), f"sidecar {sidecar} is nested too deeply") from None
    if not isinstance(raw, dict):
        raise LoadError(str(path), f"sidecar {sidecar} must be a JSON object")
    meta: dict[str, str] = {}
    for key in _META_KEYS:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise LoadError(str(path), f"sidecar {sidecar}: {key!r} must be a string or null")
        if value and value.strip():  # null or "" leaves the value found elsewhere
            meta[key] = value.strip()
    return meta


def _load_plain(
    path: Path, data: bytes, markdown: bool, deadline: Deadline | None
) -> tuple[str, dict[str, str], tuple[Span, ...], str]:
    """Text, front matter, skip spans and heading title (markdown only) of a .txt/.md file."""
    text = _decode_text(path, data)
    _check_not_blank(path, text)
    front, front_span = parse_front_matter(text, deadline)
    skip = find_boilerplate(text)
    if front_span is not None:
        skip = (front_span, *skip)
    check(deadline)
    return text, front, skip, markdown_heading(text, skip, deadline) if markdown else ""


def _html_depth(source: str, deadline: Deadline | None) -> int:
    """How deeply the page's elements nest, measured on lxml's tree (linear, and libxml2 itself
    stops building below a few hundred levels, so this stays cheap for any input)."""
    try:
        root = lxml_html.document_fromstring(source)
    except (etree.ParserError, ValueError):
        return 0  # nothing lxml can build a tree from; BeautifulSoup decides below
    depth = deepest = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        deepest = max(deepest, depth)
        if not depth:
            check(deadline)
    check(deadline)
    return deepest


def _load_html(path: Path, data: bytes, deadline: Deadline | None) -> HtmlPage:
    source = _decode_text(path, data)
    _check_not_blank(path, source)
    if _html_depth(source, deadline) > MAX_HTML_DEPTH:
        raise LoadError(str(path), f"HTML is nested more than {MAX_HTML_DEPTH} levels deep")
    try:
        page = extract_html(source, deadline)
    except RecursionError:
        raise LoadError(str(path), "HTML is nested too deeply to parse") from None
    if not page.text.strip():
        raise LoadError(str(path), "HTML has no visible text")
    return page


def parse_document(
    source: Source, data: bytes, deadline: Deadline | None = None
) -> LoadedDocument:
    """The document in ``data`` (the bytes of ``source.path``); raises ``LoadError`` with a short
    reason when it cannot be ingested, ``FileTimedOut`` past ``deadline``."""
    path = source.path
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(str(path), f"unsupported file type {suffix or '(none)'!r}")
    if not data.strip():
        raise LoadError(str(path), "empty (no text)")
    meta: dict[str, str | None] = {}
    if suffix in HTML_SUFFIXES:
        page = _load_html(path, data, deadline)
        text, title, skip = page.text, page.title or page.h1, find_boilerplate(page.text)
        meta.update(url=page.url, date=page.date)
    elif suffix in PDF_SUFFIXES:
        text, title = load_pdf(path, data)
        skip = find_boilerplate(text)
    elif suffix in DOCX_SUFFIXES:
        text, title = load_docx(str(path), data, deadline)
        skip = find_boilerplate(text)
    else:
        text, front, skip, title = _load_plain(path, data, suffix in MARKDOWN_SUFFIXES, deadline)
        meta.update({k: front[k] for k in _META_KEYS if k in front})
    check(deadline)
    meta.update(_read_sidecar(source))  # the sidecar is explicit, so it wins
    title = (
        meta.get("title") or title or title_line(text, skip, deadline) or name_title(path.stem)
    )
    return LoadedDocument(
        doc_id=path.stem,
        source_path=str(path),
        text=text,
        title=clip_title(title),
        url=meta.get("url") or None,
        date=meta.get("date") or None,
        skip=skip,
    )


def load_document(
    path: Path, max_bytes: int = 50_000_000, *, follow_external_symlinks: bool = False
) -> LoadedDocument:
    """Read and parse one file named on its own (see ``Source.named``)."""
    source = Source.named(Path(path), follow_external_symlinks=follow_external_symlinks)
    if source.path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(str(path), f"unsupported file type {source.path.suffix or '(none)'!r}")
    return parse_document(source, read_source(source.path, source.root, max_bytes))
