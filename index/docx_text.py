"""Text of a Word (.docx) file, bounded against hostile input.

A .docx is a zip of XML parts; a few kilobytes can declare gigabytes unpacked, so the archive's
entry count and declared unpacked size are checked before python-docx reads it (zipfile never
inflates a member past its declared size). Headings become ATX lines ("## Background") so the
segmenter gives them the heading role, exactly as for markdown: a heading is never an answer
alone. Tables become one line per row, cells separated by " | " (read as table rows, not prose).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from .deadline import Deadline, check
from .records import LoadError

MAX_DOCX_ENTRIES = 5_000
MAX_DOCX_UNPACKED_BYTES = 200_000_000
_MAX_HEADING_LEVEL = 6


def _check_archive(path: str, data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise LoadError(path, f"not a Word document (not a zip archive: {exc})") from None
    if len(entries) > MAX_DOCX_ENTRIES:
        raise LoadError(path, f"Word document has over {MAX_DOCX_ENTRIES:,} parts")
    unpacked = sum(e.file_size for e in entries)
    if unpacked > MAX_DOCX_UNPACKED_BYTES:
        raise LoadError(path, f"Word document unpacks to {unpacked:,} bytes, over the "
                              f"{MAX_DOCX_UNPACKED_BYTES:,} limit (a decompression bomb?)")


def _heading_level(paragraph: Paragraph) -> int:
    """1-6 for a Title or Heading N paragraph, else 0."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 1
    if name.startswith("Heading"):
        digits = name.removeprefix("Heading").strip()
        return min(int(digits), _MAX_HEADING_LEVEL) if digits.isdigit() else 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _table_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(_one_line(cell.text))
        if any(cells):
            yield " | ".join(cells)


def load_docx(path: str, data: bytes, deadline: Deadline | None = None) -> tuple[str, str]:
    """The document's paragraphs and tables joined by blank lines, and its title (the core
    properties' title, else the first heading, else "")."""
    _check_archive(path, data)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        first_heading = ""
        for item in document.iter_inner_content():
            check(deadline)
            if isinstance(item, Table):
                rows = list(_table_rows(item))
                if rows:
                    blocks.append("\n".join(rows))
                continue
            text = item.text.strip()
            if not text:
                continue
            level = _heading_level(item)
            if level:
                first_heading = first_heading or _one_line(text)
                blocks.append(f"{'#' * level} {_one_line(text)}")
            else:
                blocks.append(text)
        title = (document.core_properties.title or "").strip()
    except LoadError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types for damaged files
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise LoadError(path, f"broken Word document ({detail})") from None
    text = "\n\n".join(blocks)
    if not text.strip():
        raise LoadError(path, "Word document has no text")
    return text, title or first_heading
