"""A website as a source: mirror it into a local folder that ``ingest`` reads like any other.

A site root is crawled breadth-first over same-origin links; a sitemap (or sitemap index, gzip
allowed) names the pages instead. Each page becomes ``<slug>-<hash>.html`` (or ``.pdf``) with a
``.meta.json`` sidecar holding its URL and title, so citations link to the page itself and doc
ids are stable. Unchanged pages are rewritten byte for byte identical (the file is not touched),
so a re-ingest reuses them; pages gone from the site are removed from the mirror."""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .loaders import extract_html
from .sitemap import SitemapError, parse_sitemap
from .sources import SIDECAR_SUFFIX
from .web_fetch import (
    HTML_TYPES,
    PDF_TYPES,
    BudgetSpent,
    Fetched,
    Fetcher,
    PageFailed,
    Unreachable,
    WebLimits,
)
from .web_urls import (
    UrlRefused,
    folder_name,
    is_sitemap,
    noindex,
    normalize,
    page_links,
    page_stem,
    same_origin,
)

__all__ = ["MirrorReport", "PageProblem", "UrlRefused", "WebLimits", "WebSourceError",
           "mirror_site"]

MAX_SITEMAPS = 50  # sitemap files read per start (an index may list more)
_MIRRORED = (".html", ".pdf", SIDECAR_SUFFIX)


class WebSourceError(Exception):
    """The site as a whole could not be mirrored (unreachable, an unreadable sitemap, no page)."""


@dataclass(frozen=True)
class PageProblem:
    url: str
    reason: str


@dataclass(frozen=True)
class MirrorReport:
    folder: Path
    saved: tuple[str, ...]  # URLs mirrored this crawl, in crawl order
    changed: int  # of those, files written (new or different)
    removed: tuple[str, ...]  # file names dropped from the mirror
    problems: tuple[PageProblem, ...]
    notes: tuple[str, ...]


@dataclass
class _Crawl:
    """The mutable state of one crawl (local to ``mirror_site``)."""

    folder: Path
    saved: list[str] = field(default_factory=list)
    keep: set[str] = field(default_factory=set)  # file names that stay in the mirror
    done: set[str] = field(default_factory=set)  # final URLs already mirrored
    changed: int = 0
    problems: list[PageProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically, and only when the bytes differ (an unchanged file keeps its mtime)."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # hidden: ingest skips it
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _html_text(page: Fetched) -> str:
    try:
        return page.body.decode(page.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return page.body.decode("utf-8", "replace")


def _save(crawl: _Crawl, page: Fetched, html: str | None) -> None:
    stem = page_stem(page.url)
    if html is not None:
        # A charset the server declared is applied here (the file is stored as UTF-8); with none
        # declared the bytes are kept, and the loader detects their encoding as for any file.
        body, suffix = (html.encode("utf-8") if page.charset else page.body), ".html"
        found = extract_html(html)
        title: str | None = found.title or found.h1 or None
    else:
        body, suffix, title = page.body, ".pdf", None
    meta = json.dumps({"title": title, "url": page.url}, ensure_ascii=False, indent=2,
                      sort_keys=True) + "\n"
    for name, data in ((stem + suffix, body), (stem + SIDECAR_SUFFIX, meta.encode("utf-8"))):
        crawl.changed += _write_if_changed(crawl.folder / name, data)
        crawl.keep.add(name)
    crawl.saved.append(page.url)
    crawl.done.add(page.url)


def _keep_previous(crawl: _Crawl, url: str) -> None:
    """A page that failed for now (timeout, 5xx) keeps the copy mirrored before."""
    stem = page_stem(url)
    crawl.keep.update(name for name in (stem + ".html", stem + ".pdf", stem + SIDECAR_SUFFIX)
                      if (crawl.folder / name).exists())


def _sitemap_pages(fetcher: Fetcher, start: str, crawl: _Crawl) -> list[str]:
    """Page URLs of a sitemap and the sitemaps it indexes (same origin, in file order)."""
    pages: list[str] = []
    queue, seen = deque([start]), {start}
    while queue and len(seen) <= MAX_SITEMAPS:
        url = queue.popleft()
        try:
            got = fetcher.fetch(url, None)
            found = parse_sitemap(got.body, fetcher.limits.max_page_bytes)
        except (PageFailed, SitemapError) as exc:
            if url == start:
                raise WebSourceError(f"cannot read the sitemap {start}: {exc}") from None
            crawl.problems.append(PageProblem(url, f"sitemap: {exc}"))
            continue
        for loc in found.sitemaps + found.pages:
            try:
                target = normalize(loc)
            except UrlRefused as exc:
                crawl.problems.append(PageProblem(loc[:200], str(exc)))
                continue
            if not same_origin(target, start):
                crawl.problems.append(PageProblem(target, "on another origin: not followed"))
            elif loc in found.sitemaps and target not in seen:
                seen.add(target)
                queue.append(target)
            elif loc in found.pages and target not in pages:
                pages.append(target)
    return pages


def _crawl(fetcher: Fetcher, queue: deque[str], follow: bool, crawl: _Crawl) -> None:
    seen, requests, disallowed = set(queue), 0, 0
    while queue:
        url = queue.popleft()
        if not fetcher.allowed(url):
            disallowed += 1
            continue
        if requests >= fetcher.limits.max_pages:
            crawl.notes.append(f"stopped at the {fetcher.limits.max_pages}-page limit "
                               f"(--max-pages); {len(queue) + 1} URLs not fetched")
            return
        requests += 1
        try:
            page = fetcher.fetch(url, HTML_TYPES | PDF_TYPES)
        except PageFailed as exc:
            crawl.problems.append(PageProblem(url, exc.reason))
            if exc.transient:
                _keep_previous(crawl, url)
            continue
        if page.url in crawl.done:
            continue  # a redirect to a page mirrored already
        html = _html_text(page) if page.media_type in HTML_TYPES else None
        if html is None or not noindex(html):
            _save(crawl, page, html)
        if follow and html is not None:
            for link in page_links(html, page.url):
                if link not in seen:
                    seen.add(link)
                    queue.append(link)
    if disallowed:
        crawl.notes.append(f"passed over {disallowed} URL{'s' if disallowed != 1 else ''} "
                           "disallowed by robots.txt")


def _remove_stale(crawl: _Crawl) -> list[str]:
    removed = []
    for path in sorted(crawl.folder.iterdir()):
        name = path.name
        if path.is_file() and name.endswith(_MIRRORED) and name not in crawl.keep:
            path.unlink()
            removed.append(name)
    return removed


def mirror_site(
    start_url: str,
    web_root: Path,
    limits: WebLimits,
    *,
    user_agent: str,
    transport: httpx.BaseTransport | None = None,
) -> MirrorReport:
    """Mirror the site at ``start_url`` (a site root or section, or a sitemap URL) into
    ``web_root/<folder_name(start_url)>``. Raises ``UrlRefused`` for a URL that is not read and
    ``WebSourceError`` when the site cannot be mirrored at all; per-page failures are in the
    report."""
    start = normalize(start_url)
    crawl = _Crawl(folder=web_root / folder_name(start))
    with httpx.Client(timeout=limits.timeout_s, follow_redirects=False, transport=transport,
                      headers={"User-Agent": user_agent}) as client:
        fetcher = Fetcher(start, client, limits, user_agent)
        try:
            note = fetcher.load_robots()
        except Unreachable as exc:
            raise WebSourceError(str(exc)) from None
        crawl.notes.extend([note] if note else [])
        crawl.folder.mkdir(parents=True, exist_ok=True)
        sitemap = is_sitemap(start)
        queue = deque(_sitemap_pages(fetcher, start, crawl) if sitemap else [start])
        try:
            _crawl(fetcher, queue, not sitemap, crawl)
        except BudgetSpent as exc:
            crawl.notes.append(f"{exc}; pages not reached keep their mirrored copy")
            crawl.keep.update(p.name for p in crawl.folder.iterdir())
    if not crawl.saved:
        problems = "; ".join([f"{p.url}: {p.reason}" for p in crawl.problems[:3]]
                             + crawl.notes)
        raise WebSourceError(f"no page of {start} could be mirrored"
                             + (f" ({problems})" if problems else ""))
    removed = _remove_stale(crawl)
    return MirrorReport(
        folder=crawl.folder, saved=tuple(crawl.saved), changed=crawl.changed,
        removed=tuple(removed), problems=tuple(crawl.problems), notes=tuple(crawl.notes),
    )
