"""Decoding a text file's bytes: UTF-8 first, then a detected legacy encoding.

The decoded text is the text served and cited, so offsets are exact whatever the encoding was.
charset-normalizer ranks candidate code pages by how chaotic and how coherent the decoded text
reads; on short files many tie (every single-byte page decodes "café" without chaos), and then the
Western page, cp1252, is taken: it is what legacy English and Western European files are written
in, and a tie means the others read no better. Nothing detected at all falls back to cp1252, then
latin-1 (which decodes any byte).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from charset_normalizer import from_bytes

from .records import LoadError

FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_PREFERRED_ON_TIE = "cp1252"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the Python codec name that produced ``text``


def _detected(data: bytes) -> str | None:
    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    return _PREFERRED_ON_TIE if _PREFERRED_ON_TIE in tied else best.encoding


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_text(path: str, data: bytes) -> Decoded:
    """The text of ``data`` (a leading byte-order mark removed); ``LoadError`` for binary data."""
    text = _strict(data, "utf-8-sig")
    encoding = "utf-8"
    if text is None and data.startswith(_UTF16_BOMS):
        text, encoding = _strict(data, "utf-16"), "utf-16"
    if text is None:
        if b"\x00" in data:  # NUL bytes outside UTF-16 are binary data, not a legacy encoding
            raise LoadError(path, f"binary data, not text (a NUL byte at offset "
                                  f"{data.index(0)})")
        for candidate in (_detected(data), *FALLBACK_ENCODINGS):
            if candidate is not None and (text := _strict(data, candidate)) is not None:
                encoding = candidate
                break
    assert text is not None  # latin-1 decodes every byte
    if "\x00" in text:
        raise LoadError(path, f"binary data, not text (a NUL byte at offset "
                              f"{text.index(chr(0))})")
    return Decoded(text.removeprefix("\ufeff"), encoding)
