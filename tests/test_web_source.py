"""A website as a source: `citeqa ingest URL` mirrors a loopback site (robots.txt, a redirect, a
404, a non-HTML file, links to another origin, a gzip sitemap index) into a folder of .html
files with URL sidecars, then ingests it; citations carry the page URL."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.store import load_snapshot
from index.web import WebLimits, WebSourceError, mirror_site
from index.web_urls import UrlRefused, page_stem
from service.cli import EXIT_FAIL, EXIT_USAGE
from tests import fake_citeqa

AGENT = "citeqa/test"


def main(argv: list[str]) -> int:
    """``citeqa`` with the fake encoder at its model seam: no real model needed."""
    return fake_citeqa.main(argv, dim=32)


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1>{body}</body></html>").encode()


@dataclass
class Site:
    """Routes of the loopback site (path -> (status, headers, body)); tests may change them."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)
    port: int = 0

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def _routes(port: int) -> dict[str, tuple[int, dict[str, str], bytes]]:
    html = {"content-type": "text/html; charset=utf-8"}
    urlset = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>http://127.0.0.1:{port}/about</loc></url>"
        f"<url><loc>http://127.0.0.1:{port}/news</loc></url>"
        "<url><loc>http://other.invalid/page</loc></url></urlset>"
    ).encode()
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>http://127.0.0.1:{port}/sitemap-pages.xml.gz</loc></sitemap>"
        "</sitemapindex>"
    ).encode()
    return {
        "/robots.txt": (200, {"content-type": "text/plain"},
                        b"User-agent: *\nDisallow: /private/\n"),
        "/": (200, html, _page("Atlas Library", (
            '<p>Welcome to the Atlas Library.</p><a href="/about">About</a> '
            '<a href="about#hours">Hours</a> <a href="/old">Old news</a> '
            '<a href="/private/secret">Staff</a> <a href="/data.csv">Data</a> '
            '<a href="/missing">Gone</a> <a href="/away">Away</a> '
            f'<a href="http://localhost:{port}/about">Elsewhere</a> '
            '<a href="mailto:desk@example.org">Mail</a>'))),
        "/about": (200, html, _page("About the library",
                                    "<p>The Atlas Library opens at nine o'clock every weekday."
                                    "</p>")),
        "/old": (301, {"location": "/news"}, b""),
        "/news": (200, html, _page("News", "<p>The reading room reopened in March 2024.</p>"
                                            '<a href="/">Home</a>')),
        "/private/secret": (200, html, _page("Secret", "<p>Never to be crawled.</p>")),
        "/data.csv": (200, {"content-type": "text/csv"}, b"a,b\n1,2\n"),
        "/away": (302, {"location": f"http://localhost:{port}/"}, b""),
        "/sitemap.xml": (200, {"content-type": "application/xml"}, index),
        "/sitemap-pages.xml.gz": (200, {"content-type": "application/gzip"},
                                  gzip.compress(urlset, mtime=0)),
    }


@pytest.fixture()
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append(self.path)
            state.user_agents.add(self.headers.get("user-agent", ""))
            status, headers, body = state.routes.get(
                self.path, (404, {"content-type": "text/html"}, b"<p>not found</p>"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    state.routes = _routes(state.port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _mirror(site: Site, tmp_path: Path, url: str = "", **limits: int) -> tuple:
    report = mirror_site(url or site.root, tmp_path / "web", WebLimits(**limits),
                         user_agent=AGENT)
    files = {p.name: p.read_bytes() for p in report.folder.iterdir()}
    return report, files


def test_a_site_root_is_mirrored_breadth_first_within_its_origin(
    site: Site, tmp_path: Path
) -> None:
    report, files = _mirror(site, tmp_path)
    root, about, news = site.root, site.root + "about", site.root + "news"
    assert report.folder == tmp_path / "web" / f"127_0_0_1_{site.port}"
    assert report.saved == (root, about, news)  # breadth-first; /old lands on /news
    assert sorted(files) == sorted(
        f"{page_stem(u)}{suffix}" for u in (root, about, news) for suffix in (".html",
                                                                              ".meta.json"))
    meta = json.loads(files[f"{page_stem(about)}.meta.json"])
    assert meta == {"title": "About the library", "url": about}
    assert b"nine o'clock" in files[f"{page_stem(about)}.html"]
    assert "/private/secret" not in site.requests  # robots.txt is obeyed
    assert site.requests[0] == "/robots.txt" and site.user_agents == {AGENT}
    reasons = {p.url: p.reason for p in report.problems}
    assert reasons[root + "missing"] == "HTTP 404"
    assert "text/csv" in reasons[root + "data.csv"]
    assert "another origin" in reasons[root + "away"]
    assert len(reasons) == 3  # the other host's link and mailto: are never requested
    assert any("robots.txt" in note for note in report.notes)


def test_a_recrawl_leaves_unchanged_pages_alone_and_drops_vanished_ones(
    site: Site, tmp_path: Path
) -> None:
    first, before = _mirror(site, tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    again, after = _mirror(site, tmp_path)
    assert after == before and again.changed == 0 and again.removed == ()
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.iterdir()} == mtimes

    del site.routes["/about"]  # the page is gone (404)
    gone, files = _mirror(site, tmp_path)
    stem = page_stem(site.root + "about")
    assert sorted(gone.removed) == [f"{stem}.html", f"{stem}.meta.json"]
    assert f"{stem}.html" not in files and len(files) == 4


def test_a_page_that_fails_for_now_keeps_its_copy(site: Site, tmp_path: Path) -> None:
    _mirror(site, tmp_path)
    site.routes["/about"] = (503, {}, b"")
    report, files = _mirror(site, tmp_path)
    assert f"{page_stem(site.root + 'about')}.html" in files and report.removed == ()


def test_a_gzip_sitemap_index_names_the_pages(site: Site, tmp_path: Path) -> None:
    report, files = _mirror(site, tmp_path, site.root + "sitemap.xml")
    assert report.saved == (site.root + "about", site.root + "news")
    assert report.folder.name.startswith(f"127_0_0_1_{site.port}__sitemap-xml-")
    assert "/" not in site.requests  # links are not followed from a sitemap
    assert [p.url for p in report.problems] == ["http://other.invalid/page"]


def test_the_page_limit_bounds_the_requests(site: Site, tmp_path: Path) -> None:
    report, _files = _mirror(site, tmp_path, max_pages=2)
    assert report.saved == (site.root, site.root + "about")
    assert any("2-page limit" in note for note in report.notes)


def test_refused_and_unreachable_sites(site: Site, tmp_path: Path) -> None:
    with pytest.raises(UrlRefused, match="only http and https"):
        mirror_site("ftp://127.0.0.1/", tmp_path, WebLimits(), user_agent=AGENT)
    site.routes["/robots.txt"] = (200, {}, b"User-agent: *\nDisallow: /\n")
    with pytest.raises(WebSourceError, match="no page of"):
        mirror_site(site.root, tmp_path, WebLimits(), user_agent=AGENT)
    assert site.requests == ["/robots.txt"]


@pytest.fixture()
def work_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "var" / "index"))
    return tmp_path


def test_ingest_a_url_indexes_the_pages_with_their_urls(
    site: Site, work_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", site.root, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"citeqa: skipped {site.root}missing: HTTP 404" in err.splitlines()
    assert (work_env / "var" / "web" / f"127_0_0_1_{site.port}").is_dir()
    snapshot = load_snapshot(work_env / "var" / "index")
    try:
        docs = {d.doc_id: (d.url, d.title) for d in snapshot.content.documents}
    finally:
        snapshot.close()
    assert docs == {
        page_stem(site.root): (site.root, "Atlas Library"),
        page_stem(site.root + "about"): (site.root + "about", "About the library"),
        page_stem(site.root + "news"): (site.root + "news", "News"),
    }


def test_ingest_url_errors_are_one_line(
    site: Site, work_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "ftp://127.0.0.1/docs"]) == EXIT_USAGE
    assert capsys.readouterr().err.strip().count("\n") == 0
    with socket.socket() as probe:  # a free port, closed again: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["ingest", f"http://127.0.0.1:{port}/", "--quiet"]) == EXIT_FAIL
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"citeqa: cannot reach http://127.0.0.1:{port}")
