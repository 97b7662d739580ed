"""Real parts for the service tests: real uvicorn servers on free loopback ports running the real
app, Slack request signing with slack_sdk, and a real local HTTP server that receives
``response_url`` posts. The session fixtures that use them are in tests/service_fixtures.py.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from slack_sdk.signature import SignatureVerifier

from index.embed import Encoder
from retriever.engine import Engine
from service.app import create_app
from service.serve_cli import uvicorn_config
from service.settings import Settings
from service.wiring import open_engine
from tests.answer_fixture import with_answer_model

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

# Two extra documents: markup, Slack control sequences and a javascript: URL in the corpus; an
# emoji before an answer (code-point offsets); two documents that disagree on a price.
EXTRA_DOCS: dict[str, str] = {
    "zz_harbour_notice.txt": (
        "Harbour notice <!here> & <b>friends</b>\n\n"
        "The Widnes crab festival 🦀🦀 takes place on 14 March 2031 at the old harbour.\n\n"
        "The lighthouse keeper's secret phrase is <img src=x onerror=\"window.__citeqa_xss=1\"> "
        "then <script>window.__citeqa_xss=2</script> with <!channel> and <@U012ABC> and "
        "<https://evil.example|click here> & more.\n\n"
        "Ferry tickets to the Widnes harbour cost 12 pounds for adults.\n"
    ),
    "zz_harbour_notice.meta.json": json.dumps({"url": "javascript:alert(document.domain)"}),
    "zz_ferry_timetable.txt": (
        "Widnes ferry timetable\n\n"
        "Ferry tickets to the Widnes harbour cost 15 pounds for adults since the spring "
        "timetable.\n\n"
        "The first ferry leaves the Widnes harbour at 6:40 every weekday morning.\n"
    ),
    "zz_ferry_timetable.meta.json": json.dumps({"url": "https://example.org/ferry-timetable"}),
}

Q_MOU = "When was the MoU between Liverpool and Oxford signed?"
Q_POPULATION = "What is the population of Liverpool?"
Q_CRAB = "When does the Widnes crab festival take place?"
Q_XSS = "What is the lighthouse keeper's secret phrase?"
Q_FERRY = "How much do ferry tickets to the Widnes harbour cost for adults?"


HTTP_TIMEOUT = 60.0  # generous: the test machine may be busy with other work


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=kwargs.pop("timeout", HTTP_TIMEOUT), **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=kwargs.pop("timeout", HTTP_TIMEOUT), **kwargs)


def make_settings(index_dir: Path, tmp: Path, *, encoder: Encoder | None = None,
                  **overrides: Any) -> Settings:
    """Settings for a test server; ``encoder``: the fake it will run with, if not the real model
    (the answer model is then described as fitted for it)."""
    values: dict[str, Any] = {
        "index_dir": index_dir,
        "feedback_db": tmp / "feedback.sqlite3",
        "rate_limit_per_minute": 100_000.0,
        "rate_limit_burst": 10_000,
        "slack_rate_limit_per_minute": 100_000.0,
        "slack_rate_limit_burst": 10_000,
    }
    values.update(overrides)
    values = with_answer_model(values, tmp, encoder)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def engine_loader(encoder: Any) -> Callable[[Settings], Engine]:
    def load(settings: Settings) -> Engine:
        return open_engine(settings, encoder)

    return load


class LiveServer:
    """uvicorn serving an app on a loopback port in a background thread.

    The socket is bound first, so the URL is known before the app (and its settings) exist."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.app: Any = None
        self.settings: Settings | None = None

    def start(self, app: Any, *, wait_ready: bool = True, timeout: float = 90.0) -> LiveServer:
        self.app = app
        config = uvicorn_config(app, self.settings or Settings(_env_file=None),
                                log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name=f"uvicorn-{self.port}")
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        if wait_ready:
            self.wait_ready(deadline - time.monotonic())
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = http_get(self.url + "/readyz")
            if ready.status_code == 200:
                return
            if ready.json().get("status") == "failed":
                raise RuntimeError("the index failed to load (see the log)")
            time.sleep(0.05)
        raise RuntimeError("the service did not become ready")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(15)
        self.sock.close()


@contextlib.contextmanager
def running(
    settings_for: Callable[[str], Settings], loader: Callable[[Settings], Engine], *,
    wait_ready: bool = True,
) -> Iterator[LiveServer]:
    """Start the real app; ``settings_for`` gets the server's base URL (for public_url)."""
    live = LiveServer()
    settings = settings_for(live.url)
    live.settings = settings
    live.start(create_app(settings, engine_loader=loader), wait_ready=wait_ready)
    try:
        yield live
    finally:
        live.stop()


# ---- Slack -----------------------------------------------------------------------------------

def slack_headers(body: str | bytes, *, secret: str = SLACK_SECRET, ts: int | None = None) -> dict[
        str, str]:
    timestamp = str(int(time.time()) if ts is None else ts)
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=text)
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature,
            "content-type": "application/x-www-form-urlencoded"}


class SlackReceiver:
    """A real HTTP server standing in for Slack's response_url endpoint: records every post."""

    def __init__(self) -> None:
        self.posts: queue.Queue[tuple[str, dict[str, str], Any]] = queue.Queue()
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                posts.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def wait(self, n: int = 1, timeout: float = 20.0) -> list[tuple[str, dict[str, str], Any]]:
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                got.append(self.posts.get(timeout=remaining))
            except queue.Empty:
                break
        return got

    def drain(self, settle: float = 0.5) -> list[tuple[str, dict[str, str], Any]]:
        time.sleep(settle)
        got = []
        while True:
            try:
                got.append(self.posts.get_nowait())
            except queue.Empty:
                return got

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
