"""A PDF's page texts as one document: page furniture removed, pages joined where text runs on.

Printed pages repeat a running header or footer ("Chapter 2: ASN.1 structure handling 3",
"Shared MIME-info Database") and carry a page number; extracted, each becomes a "sentence" that
can be quoted as an answer. A line at the top or bottom edge of a page is furniture when the
same line stands at that edge of many pages, or when it is, or ends with, the page's number: a
number that runs with the page index (index + the same offset) on many pages ("3", "Page 3 of
36", "Chapter 2: ASN.1 structure handling 3").

Pages used to be joined by a blank line, which ends a paragraph, so a sentence that ran over a
page break became two fragments. A page whose last line plainly runs on into the next page's
first (a word, comma or hyphen, then a lower-case word) is now joined to it by a line break
alone, so the wrapped-line rules decide, as for any other line break inside a paragraph.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be furniture
MIN_REPEATS = 3
MIN_SHARE = 0.3  # of the pages
# Printed page numbers run close to the page's index (front matter, or a first page numbered 0
# or 2); years and versions that happen to grow page by page do not.
MAX_PAGE_OFFSET = 50
# Where a page number stands: alone ("3", "Page 3 of 36", "3/36"), or last after a running title
# ("Chapter 2: ASN.1 structure handling 3"). Not first before words: that is a numbered heading
# ("1 Introduction"), and its number can equal the page's by chance.
_ALONE = re.compile(r"(?:page\s+)?(\d{1,4})(?:\s*(?:/|of)\s*\d{1,4})?", re.I)
_LAST = re.compile(r"\s(\d{1,4})")


def _key(line: str) -> str:
    return " ".join(line.split()).casefold()


def _edges(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indices of the first and last EDGE_LINES non-blank lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:EDGE_LINES], filled[-EDGE_LINES:]


def _edge_number(line: str) -> int | None:
    """The number in a page number's place on the line, if any."""
    text = line.strip()
    found = _ALONE.fullmatch(text)
    if found is None and text[-1:].isdigit():
        found = _LAST.search(text, len(text) - 5)
    return int(found.group(1)) if found is not None else None


def _furniture(pages: list[list[str]]) -> list[set[int]]:
    """Per page, the indices of its furniture lines."""
    repeats = max(MIN_REPEATS, MIN_SHARE * len(pages))
    texts: Counter[tuple[str, str]] = Counter()  # (edge, line)
    offsets: Counter[int] = Counter()  # page number - page index
    for index, lines in enumerate(pages):
        top, bottom = _edges(lines)
        texts.update({("top", _key(lines[i])) for i in top})
        texts.update({("bottom", _key(lines[i])) for i in bottom})
        numbers = {_edge_number(lines[i]) for i in {*top, *bottom}}
        offsets.update({n - index for n in numbers
                        if n is not None and abs(n - index) <= MAX_PAGE_OFFSET})
    offset, count = offsets.most_common(1)[0] if offsets else (0, 0)
    numbered = count >= max(MIN_REPEATS, MIN_SHARE * len(pages))
    out = []
    for index, lines in enumerate(pages):
        top, bottom = _edges(lines)
        found = {i for i in top if texts["top", _key(lines[i])] >= repeats}
        found |= {i for i in bottom if texts["bottom", _key(lines[i])] >= repeats}
        if numbered:
            found |= {i for i in {*top, *bottom} if _edge_number(lines[i]) == index + offset}
        out.append(found)
    return out


def _runs_on(before: str, after: str) -> bool:
    """Does the sentence at the end of ``before`` go on at the start of ``after``? Only when it
    plainly does: a word, comma or hyphen, then a lower-case word (a table of contents ending
    in a page number, or a page ending in a title, is not joined to the next page)."""
    last, first = before[-1], after[0]
    return (last.isalpha() or last in ",-") and first.islower()


def read_pages(pages: Sequence[str]) -> tuple[str, str]:
    """The document text of ``pages`` (each page's extracted text) and its running title."""
    split = [page.splitlines() for page in pages]
    furniture = _furniture(split) if len(split) >= MIN_REPEATS else [set() for _ in split]
    return _joined(split, furniture), _running_title(split, furniture)


def join_pages(pages: Sequence[str]) -> str:
    """The document text of ``pages``, page furniture removed."""
    return read_pages(pages)[0]


def running_title(pages: Sequence[str]) -> str:
    """The running header most pages carry (often the document's title, which a PDF without
    title metadata states nowhere else once its furniture is removed), or ""."""
    return read_pages(pages)[1]


def _running_title(split: list[list[str]], furniture: list[set[int]]) -> str:
    heads: Counter[str] = Counter()
    for lines, drop in zip(split, furniture, strict=True):
        top, _ = _edges(lines)
        heads.update({" ".join(lines[i].split()) for i in top if i in drop})
    for line, count in heads.most_common():
        if _edge_number(line) is None and any(c.isalpha() for c in line):
            return line if count >= max(MIN_REPEATS, MIN_SHARE * len(split)) else ""
    return ""


def _joined(split: list[list[str]], furniture: list[set[int]]) -> str:
    texts = ["\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
             for lines, drop in zip(split, furniture, strict=True)]
    out = ""
    for text in texts:
        if not text:
            continue
        if out:
            out += "\n" if _runs_on(out, text) else "\n\n"
        out += text
    return out
