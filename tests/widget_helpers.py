"""Real-browser parts shared by the widget tests (tests/test_widget.py and the A11 XSS run): the
Chromium launch settings, a third-party host site on another loopback origin, and a page wrapper
that records everything that goes wrong on it."""

from __future__ import annotations

import http.server
import threading
from typing import Any

from playwright.sync_api import Page

from tests.service_helpers import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDGET_JS = REPO / "service" / "static" / "widget.js"

# Everything a host page can throw at an embedded widget from the outside.
HOSTILE_CSS = """
* { all: unset !important; font-size: 3px !important; color: red !important;
    background: #000 !important; line-height: 0 !important; }
html { font-size: 2px !important; }
div, section, button, textarea, input, form, blockquote, mark, a, p, span, ol, li, h2, article {
    display: none !important; visibility: hidden !important; opacity: 0 !important; }
citeqa-chat { display: none !important; opacity: 0 !important; position: static !important;
    transform: scale(0.1) !important; z-index: -1 !important; width: 0 !important;
    height: 0 !important; overflow: hidden !important; font-size: 1px !important; }
[hidden] { display: block !important; }
body { overflow: hidden !important; }
"""


class HostSite:
    """A third-party site on another origin (another loopback port) that embeds the widget with
    the one script tag — twice, to check the double-load guard — under hostile CSS."""

    def __init__(self) -> None:
        self.service_url = ""
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                tag = (f'<script src="{site.service_url}/widget.js" async '
                       f'data-api="{site.service_url}"></script>')
                page = (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
                        f"<meta name=viewport content='width=device-width'>"
                        f"<title>Hostile host</title><style>{HOSTILE_CSS}</style></head><body>"
                        f"<h1>A page that fights its guests</h1><p>Some host content.</p>"
                        f"{tag}{tag}</body></html>").encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Watched:
    """A page plus everything that went wrong on it: script errors, console errors, CSP
    violations and dialogs (alert() from injected script would land here)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', "
            "e => window.__csp.push(e.violatedDirective));")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__csp")
