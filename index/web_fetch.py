"""Fetching one origin politely: robots.txt first, a clear user agent, redirects followed only
within the origin (each hop checked against robots.txt), a byte limit per response and in all,
timeouts, and the site's crawl delay (capped)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import httpx

from .web_urls import UrlRefused, normalize, origin, same_origin

MAX_REDIRECTS = 5
MAX_CRAWL_DELAY_S = 5.0  # a site asking for more still gets crawled, just not slower than this
MAX_ROBOTS_BYTES = 500_000
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PDF_TYPES = frozenset({"application/pdf"})


@dataclass(frozen=True)
class WebLimits:
    max_pages: int = 200  # page requests per crawl (robots-disallowed links are not requested)
    max_page_bytes: int = 5_000_000
    max_total_bytes: int = 200_000_000
    timeout_s: float = 15.0


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    media_type: str  # lower case, no parameters
    charset: str | None
    body: bytes


class PageFailed(Exception):
    """One URL could not be fetched. ``transient`` (a timeout, a 5xx) keeps its mirrored copy."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.transient = reason, transient


class BudgetSpent(Exception):
    """The crawl's total byte limit is reached."""


class Unreachable(Exception):
    """The site's robots.txt could not be fetched at all (connection refused, DNS, timeout)."""


def _media_type(response: httpx.Response) -> tuple[str, str | None]:
    raw = response.headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    return media, response.charset_encoding


class Fetcher:
    """Requests to one origin. Not thread-safe: a crawl is one sequence of requests."""

    def __init__(self, start: str, client: httpx.Client, limits: WebLimits, agent: str) -> None:
        self.origin, self.client, self.limits, self.agent = origin(start), client, limits, agent
        self.robots = RobotFileParser()
        self.spent = 0
        self._delay = 0.0
        self._last = 0.0
        self._rules = False  # until robots.txt is read, its own redirects are not checked

    def load_robots(self) -> str | None:
        """Read robots.txt (RFC 9309: 4xx means no rules; 5xx means keep out entirely). Returns a
        note when the site is not crawled as usual; raises ``Unreachable``."""
        url = f"{self.origin}/robots.txt"
        try:
            got = self._get(url, None, MAX_ROBOTS_BYTES)
        except PageFailed as exc:
            if exc.reason.startswith("HTTP 4"):
                self.robots.parse([])
                self._rules = True
                return None
            if exc.reason.startswith("HTTP "):
                self.robots.parse(["User-agent: *", "Disallow: /"])
                self._rules = True
                return f"{url}: {exc.reason}, so the site is treated as disallowing all pages"
            raise Unreachable(f"cannot reach {self.origin}: {exc.reason}") from None
        self.robots.parse(got.body.decode("utf-8", "replace").splitlines())
        self._rules = True
        delay = self.robots.crawl_delay(self.agent)
        self._delay = min(float(delay), MAX_CRAWL_DELAY_S) if delay else 0.0
        return None

    def allowed(self, url: str) -> bool:
        return self.robots.can_fetch(self.agent, url)

    def fetch(self, url: str, accept: frozenset[str] | None) -> Fetched:
        """GET ``url`` (normalized, same origin). ``accept`` lists the media types read (None:
        any). Raises ``PageFailed`` or ``BudgetSpent``."""
        return self._get(url, accept, self.limits.max_page_bytes)

    def _get(self, url: str, accept: frozenset[str] | None, max_bytes: int) -> Fetched:
        for _hop in range(MAX_REDIRECTS + 1):
            self._wait()
            try:
                with self.client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = self._next_hop(url, response.headers["location"])
                        continue
                    return self._read(url, response, accept, max_bytes)
            except httpx.TimeoutException:
                raise PageFailed(f"timed out after {self.limits.timeout_s:g}s", True) from None
            except httpx.HTTPError as exc:
                raise PageFailed(f"{type(exc).__name__}: {exc}".rstrip(": "), True) from None
        raise PageFailed(f"more than {MAX_REDIRECTS} redirects")

    def _next_hop(self, url: str, location: str) -> str:
        try:
            target = normalize(urljoin(url, location))
        except UrlRefused:
            raise PageFailed(f"redirects to {location[:200]!r}, not an http(s) URL") from None
        if not same_origin(target, self.origin):
            raise PageFailed(f"redirects to another origin ({origin(target)}): not followed")
        if self._rules and not self.allowed(target):
            raise PageFailed(f"redirects to {target}, disallowed by robots.txt")
        return target

    def _read(
        self, url: str, response: httpx.Response, accept: frozenset[str] | None, max_bytes: int
    ) -> Fetched:
        if response.status_code != 200:
            transient = response.status_code >= 500 or response.status_code == 429
            raise PageFailed(f"HTTP {response.status_code}", transient)
        media, charset = _media_type(response)
        if accept is not None and media not in accept:
            raise PageFailed(f"not HTML or PDF ({media or 'no content type'}): passed over")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise PageFailed(f"larger than the {max_bytes}-byte page limit")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            self.spent += len(chunk)
            if len(body) > max_bytes:
                raise PageFailed(f"larger than the {max_bytes}-byte page limit")
            if self.spent > self.limits.max_total_bytes:
                raise BudgetSpent(f"stopped at the {self.limits.max_total_bytes}-byte crawl limit")
        return Fetched(url=url, media_type=media, charset=charset, body=bytes(body))

    def _wait(self) -> None:
        if self._delay:
            pause = self._last + self._delay - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self._last = time.monotonic()
