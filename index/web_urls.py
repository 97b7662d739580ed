"""URLs of a website source: which are accepted, when two are the same page, which origin they
belong to, the stable file stem a page is mirrored under, and the links a page holds."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, Tag

SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SLUG_RUN = re.compile(r"[^a-z0-9]+")
_SLUG_CHARS = 60  # the hash makes stems unique; the slug only makes them readable
# Links to these are never pages: not requesting them spares the site and the byte budget.
_NOT_PAGES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff", ".css",
    ".js", ".mjs", ".json", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".zip", ".gz", ".tgz",
    ".bz2", ".xz", ".7z", ".rar", ".tar", ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".webm", ".avi",
    ".mov", ".exe", ".dmg", ".iso", ".apk", ".rss", ".atom",
})


class UrlRefused(ValueError):
    """A URL citeqa does not read (another scheme, no host, credentials in it)."""


def looks_like_url(arg: str) -> bool:
    """Whether a command-line argument is meant as a URL (``scheme://``) rather than a path."""
    return bool(_URL_LIKE.match(arg))


def normalize(url: str) -> str:
    """The URL's one spelling: lower-case scheme and host, no default port, no fragment, ``/``
    for an empty path. Raises ``UrlRefused`` for anything but an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"{url}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused(f"{url}: only http and https URLs are read, not {scheme or 'this'}:")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused(f"{url}: the URL has no host")
    if parts.username or parts.password:
        raise UrlRefused(f"{url}: URLs with credentials are not read")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a normalized URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(url: str, base: str) -> bool:
    return origin(url) == origin(base)


def _slug(text: str) -> str:
    return _SLUG_RUN.sub("-", text.lower()).strip("-")[:_SLUG_CHARS].strip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def page_stem(url: str) -> str:
    """The file stem (and so the doc id) of a page: a readable slug of its path and query plus a
    hash of the whole URL, so stems are unique, stable across crawls and safe as doc ids."""
    parts = urlsplit(url)
    slug = _slug(f"{parts.path} {parts.query}") or "index"
    return f"{slug}-{_short_hash(url)}"


def folder_name(start: str) -> str:
    """The mirror folder of a start URL: the host (and port) for a site root, with a slug and
    hash of the path for any other start (a sitemap, a section), so two starts never share one."""
    parts = urlsplit(start)
    host = _SLUG_RUN.sub("_", (parts.hostname or "").lower()).strip("_")
    name = f"{host}_{parts.port}" if parts.port else host
    if parts.path in ("", "/") and not parts.query:
        return name
    return f"{name}__{page_stem(start)}"


def is_sitemap(url: str) -> bool:
    path = urlsplit(url).path.lower()
    return path.endswith((".xml", ".xml.gz"))


def _maybe_page(url: str) -> bool:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot <= path.rfind("/") or path[dot:] not in _NOT_PAGES


def page_links(html: str, page_url: str) -> Iterator[str]:
    """Normalized same-origin links of a page, in document order (``<base href>`` honoured,
    ``rel=nofollow`` and a robots ``nofollow`` meta tag respected, obvious non-pages dropped)."""
    soup = BeautifulSoup(html, "lxml")
    robots = soup.find("meta", attrs={"name": re.compile("^robots$", re.I)})
    if isinstance(robots, Tag) and "nofollow" in str(robots.get("content", "")).lower():
        return
    base = soup.find("base", href=True)
    base_url = urljoin(page_url, str(base["href"])) if isinstance(base, Tag) else page_url
    for anchor in soup.find_all("a", href=True):
        if not isinstance(anchor, Tag) or "nofollow" in (anchor.get("rel") or []):
            continue
        try:
            url = normalize(urljoin(base_url, str(anchor["href"])))
        except UrlRefused:
            continue  # mailto:, javascript:, a malformed href: not a page of this site
        if same_origin(url, page_url) and _maybe_page(url):
            yield url


def noindex(html: str) -> bool:
    """Whether the page asks not to be indexed (``<meta name="robots" content="noindex">``)."""
    soup = BeautifulSoup(html, "lxml")
    robots = soup.find("meta", attrs={"name": re.compile("^robots$", re.I)})
    return isinstance(robots, Tag) and "noindex" in str(robots.get("content", "")).lower()
