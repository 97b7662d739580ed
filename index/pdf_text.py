"""Text of a PDF file, bounded against hostile input.

A few kilobytes of PDF can inflate into a content stream that takes minutes to parse, so every
stream is capped (decompressed bytes, parsing tokens) through pypdf's scoped configuration, and the
whole file's decompressed page content has a budget checked before each page's text extraction.
Every failure is a ``LoadError`` with a short reason.
"""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError

from .pdf_pages import read_pages
from .records import LoadError

MAX_PDF_PAGES = 2_000
# Per stream: decompressed bytes and content tokens; per file: decompressed page-content bytes.
# Ordinary text pages are far below all three.
MAX_PDF_STREAM_BYTES = 16_000_000
MAX_PDF_STREAM_TOKENS = 250_000
MAX_PDF_CONTENT_BYTES = 8_000_000


def _opens_without_password(reader: PdfReader) -> bool:
    # Many PDFs are encrypted with an empty user password (owner restrictions only); AES ones
    # need an optional crypto package, and a missing one means we cannot read them either.
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def _first_line_of(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _page_texts(path: Path, reader: PdfReader) -> list[str]:
    """Each page's text, refusing the file once its page content passes MAX_PDF_CONTENT_BYTES
    (measured before the expensive text extraction of each page)."""
    texts = []
    budget = MAX_PDF_CONTENT_BYTES
    for _, page in zip(range(MAX_PDF_PAGES), reader.pages, strict=False):
        contents = page.get_contents()
        budget -= len(contents.get_data()) if contents is not None else 0
        if budget < 0:
            raise LoadError(str(path), f"PDF page content is over {MAX_PDF_CONTENT_BYTES:,} "
                                       "bytes decompressed (a decompression bomb?)")
        texts.append((page.extract_text() or "").strip())
    return texts


def load_pdf(path: Path, data: bytes) -> tuple[str, str]:
    """The PDF's text (``pdf_pages.read_pages``: page furniture removed) and its title: the
    metadata title, else the running header most pages carry, else ""."""
    limit = MAX_PDF_STREAM_BYTES
    try:
        with apply_configuration(
            zlib_maximum_output_length=limit, lzw_maximum_output_length=limit,
            run_length_maximum_output_length=limit, brotli_maximum_output_length=limit,
            array_based_stream_maximum_output_length=limit,
            stream_parsing_work_maximum_count=MAX_PDF_STREAM_TOKENS,
        ):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not _opens_without_password(reader):
                raise LoadError(str(path), "PDF is encrypted")
            pages = _page_texts(path, reader)
            meta = reader.metadata
            title = meta.title if meta is not None and isinstance(meta.title, str) else ""
    except LoadError:
        raise
    except LimitReachedError as exc:
        raise LoadError(str(path), f"PDF is over a safety limit ({_first_line_of(exc)})") from None
    except Exception as exc:  # pypdf raises many types for damaged files; all mean "unreadable"
        raise LoadError(str(path), f"broken PDF ({_first_line_of(exc)})") from None
    text, running_title = read_pages(pages)
    if not text.strip():
        raise LoadError(str(path), "PDF has no extractable text (scanned images?)")
    return text, title.strip() or running_title
