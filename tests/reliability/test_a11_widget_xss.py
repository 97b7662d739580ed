"""A11: the chat widget in real headless Chromium against XSS payloads placed in indexed documents
(text, titles, URLs) and asked as questions, on a host page without a CSP (so an injected handler
would run), plus the server-rendered document views and a lint of the widget source for HTML sinks.

Executions are recorded by hooks installed before any page script: ``__hit(n)`` (what every payload
calls), ``alert``/``confirm``/``prompt``/``print``, CSP violation reports, page errors and new
frames (an injected iframe)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from index.pipeline import ingest
from tests.fake_encoder import HashingEncoder
from tests.widget_helpers import CHROMIUM, CHROMIUM_ARGS, WIDGET_JS, HostSite, Watched

from .common import report
from .service_app import HASHING_DIM, live_service

PAYLOADS_FILE = Path(__file__).with_name("xss_payloads.txt")
PER_DOCUMENT = 10
BANNED_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                "new Function", "setTimeout(\"", "setInterval(\"", "createContextualFragment",
                "DOMParser", "srcdoc", "setHTMLUnsafe", "parseHTMLUnsafe", ".style.",
                "setAttribute(\"style\"", "javascript:")
# Elements the widget never creates; any of them in it means markup was parsed from data. And the
# elements that hold corpus or question text may contain only the widget's own mark/span.
FOREIGN = (".log :is(script, img, svg, math, iframe, frame, object, embed, video, audio, source, "
           "link, meta, base, select, template, details, marquee, isindex, keygen, noscript, xmp, "
           "listing, image, x, frameset, style, citeqa-chat)")
IN_TEXT = ".log :is(.q, blockquote, .passage, .snippet, .sources a) *:not(mark, span.vh)"

HOOKS = """
window.__hits = [];
window.__hit = n => window.__hits.push('hit:' + n);
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => window.__hits.push(name + ':' + String(args[0]));
}
document.addEventListener('securitypolicyviolation',
  e => window.__hits.push('csp:' + e.violatedDirective), true);
"""


def load_payloads() -> list[str]:
    """The payloads, each with ``{js}`` replaced by ``__hit(<line number>)``."""
    out = []
    for number, line in enumerate(PAYLOADS_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            out.append(line.replace("{js}", f"__hit({number})"))
    return out


PAYLOADS = load_payloads()


def write_corpus(folder: Path, payloads: list[str]) -> int:
    """Documents whose text, title and URL carry the payloads; returns the document count."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = [payloads[i:i + PER_DOCUMENT] for i in range(0, len(payloads), PER_DOCUMENT)]
    for g, group in enumerate(groups):
        first = g * PER_DOCUMENT
        lines = [f"Specimen {first + k} in the archive reads {p} as written.\n"
                 for k, p in enumerate(group)]
        (folder / f"xss_{g:02d}.txt").write_text("\n".join(lines), encoding="utf-8")
        (folder / f"xss_{g:02d}.meta.json").write_text(json.dumps({
            "title": group[0], "url": f"javascript:__hit({9000 + g})"}), encoding="utf-8")
    return len(groups)


@pytest.fixture(scope="module")
def xss_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, HostSite, int]]:
    root = tmp_path_factory.mktemp("a11")
    docs = write_corpus(root / "corpus", PAYLOADS)
    result = ingest([root / "corpus"], root / "index", HashingEncoder(dim=HASHING_DIM),
                    progress=False)
    assert result.published and not result.skipped, result.skipped
    site = HostSite()
    try:
        with live_service(root / "index", root, widget_origins=[site.origin]) as live:
            site.service_url = live.url
            yield live, site, docs
    finally:
        site.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _executions(watched: Watched) -> list[str]:
    hits = watched.page.evaluate("window.__hits")
    extra_frames = [f.url for f in watched.page.frames[1:]]
    return hits + watched.dialogs + watched.errors + [f"frame:{u}" for u in extra_frames]


def test_a11_widget_renders_payloads_as_text(browser: Browser, xss_service: Any) -> None:
    live, site, docs = xss_service
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        watched = Watched(context.new_page())
        page = watched.page
        page.add_init_script(HOOKS)
        page.goto(site.origin + "/")  # a third-party page with no CSP at all
        page.wait_for_function("window.CiteQA && typeof window.CiteQA.ask === 'function'")
        page.evaluate("window.__answers = 0; window.CiteQA.on('answer', () => window.__answers++)")
        questions = [f"What does specimen {i} read? {p}" for i, p in enumerate(PAYLOADS)]
        for n, question in enumerate(questions, 1):
            page.evaluate("q => window.CiteQA.ask(q)", question)
            page.wait_for_function(f"window.__answers >= {n}", timeout=30_000)
        shown = page.evaluate("""() => {
            const root = document.querySelector('citeqa-chat').shadowRoot;
            root.querySelectorAll('button.disclose').forEach(b => b.click());
            return Array.from(root.querySelectorAll('.log .exchange .q'),
                              q => q.textContent.replace(/^You asked: /, ''));
        }""")
        page.wait_for_timeout(500)  # let any load/error/focus handler fire
        foreign = page.evaluate(f"""() => {{
            const root = document.querySelector('citeqa-chat').shadowRoot;
            const found = [...root.querySelectorAll({json.dumps(FOREIGN)}),
                           ...root.querySelectorAll({json.dumps(IN_TEXT)}),
                           ...document.body.querySelectorAll('img, iframe, svg, object, embed')];
            return found.map(el => el.tagName.toLowerCase() + '.' + el.className);
        }}""")
        text = page.evaluate("document.querySelector('citeqa-chat').shadowRoot"
                             ".querySelector('.log').textContent")
        hrefs = page.evaluate("Array.from(document.querySelector('citeqa-chat').shadowRoot"
                              ".querySelectorAll('a'), a => a.href)")
        executions = _executions(watched)
    finally:
        context.close()
    quoted = sum(p in text for p in PAYLOADS)  # payloads that reached the page, as text
    report(f"A11: {len(PAYLOADS)} payloads in {docs} indexed documents (text, titles, URLs) and "
           f"asked as {len(questions)} questions in Chromium → {len(executions)} executions, "
           f"{len(foreign)} foreign elements; {quoted}/{len(PAYLOADS)} payloads shown verbatim "
           "as text")
    assert len(PAYLOADS) >= 100
    assert executions == []
    assert foreign == []
    assert shown == [" ".join(q.split()) for q in questions]  # each question, as plain text
    assert quoted >= len(PAYLOADS) * 0.9
    assert hrefs and all(h.startswith(live.url + "/documents/") for h in hrefs), hrefs[:5]


def test_a11_document_views_are_inert(browser: Browser, xss_service: Any) -> None:
    live, _, docs = xss_service
    context = browser.new_context()
    executions: list[str] = []
    foreign = 0
    try:
        for g in range(docs):
            watched = Watched(context.new_page())
            watched.page.add_init_script(HOOKS)
            watched.page.goto(f"{live.url}/documents/xss_{g:02d}?start=0&end=40")
            watched.page.wait_for_timeout(100)
            foreign += watched.page.evaluate(
                "document.querySelectorAll('.text *:not(mark), h1 *, title *').length")
            executions += _executions(watched)
            watched.page.close()
    finally:
        context.close()
    report(f"A11: {docs} server-rendered document views holding {len(PAYLOADS)} payloads → "
           f"{len(executions)} executions, {foreign} foreign elements")
    assert executions == [] and foreign == 0


def test_a11_widget_source_has_no_html_sinks() -> None:
    source = WIDGET_JS.read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)  # the header comment may name sinks
    found = [sink for sink in BANNED_SINKS if sink in code]
    report(f"A11: widget.js linted for {len(BANNED_SINKS)} banned sinks → {len(found)} found")
    assert found == []


def test_a11_hooks_see_an_execution(browser: Browser, xss_service: Any) -> None:
    """The control: the same payloads parsed as HTML on the same page do run, and the hooks
    record them (so the zero above is a measurement, not a blind spot)."""
    _, site, _ = xss_service
    context = browser.new_context()
    try:
        watched = Watched(context.new_page())
        watched.page.add_init_script(HOOKS)
        watched.page.goto(site.origin + "/")
        watched.page.evaluate("html => { const box = document.createElement('div'); "
                              "document.body.appendChild(box); box.insertAdjacentHTML("
                              "'beforeend', html); }", "".join(PAYLOADS[:40]))
        watched.page.wait_for_timeout(1000)
        executions = _executions(watched)
    finally:
        context.close()
    assert len([e for e in executions if e.startswith(("hit:", "alert:"))]) >= 5, executions
