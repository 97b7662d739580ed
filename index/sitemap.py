"""Sitemaps (sitemaps.org): a ``urlset`` lists pages, a ``sitemapindex`` lists more sitemaps.
Either may be gzip-compressed; decompression is bounded, so a small file cannot expand without
limit."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from xml.etree import ElementTree


class SitemapError(ValueError):
    """A sitemap that cannot be read (not XML, not a sitemap, too large once decompressed)."""


@dataclass(frozen=True)
class Sitemap:
    pages: tuple[str, ...]  # <url><loc> of a urlset
    sitemaps: tuple[str, ...]  # <sitemap><loc> of a sitemap index


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapError(f"not valid gzip ({exc})") from None
    if len(out) > max_bytes:
        raise SitemapError(f"larger than {max_bytes} bytes once decompressed")
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_sitemap(data: bytes, max_bytes: int) -> Sitemap:
    """The locations a sitemap lists, in file order. Raises ``SitemapError``."""
    if data[:2] == b"\x1f\x8b":  # gzip magic: a .xml.gz served as is
        data = _gunzip(data, max_bytes)
    try:
        # Expat refuses external entities and (2.4+) exponential entity expansion.
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise SitemapError(f"not valid XML ({exc})") from None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(f"not a sitemap (root element <{kind}>)")
    child = "url" if kind == "urlset" else "sitemap"
    locs = []
    for entry in root:
        if _local(entry.tag) != child:
            continue
        for field in entry:
            if _local(field.tag) == "loc" and field.text and field.text.strip():
                locs.append(field.text.strip())
    found = tuple(locs)
    return Sitemap(pages=found, sitemaps=()) if kind == "urlset" else Sitemap((), found)
