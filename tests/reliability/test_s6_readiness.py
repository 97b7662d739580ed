"""S6: readiness semantics. ``citeqa serve`` cold-started on a missing, a corrupt and a
mismatched-model index stays live (/healthz 200) but not ready (/readyz 503 "failed", /v1/ask 503
with Retry-After); once a valid version is published it serves it without a restart (the
``reload_poll_s`` watch on CURRENT) and /readyz turns 200."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from index.pipeline import ingest
from tests.fake_encoder import HashingEncoder

from .common import CONFIG, DIM, encoder, make_corpus, report, set_marker
from .loadgen import ServerProcess, serve_env


def _missing(ix: Path, corpus: Path) -> None:
    pass  # no index directory at all


def _corrupt(ix: Path, corpus: Path) -> None:
    version = ingest([corpus], ix, encoder(), CONFIG, progress=False).version
    path = ix / version / "chunks.jsonl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


def _mismatched(ix: Path, corpus: Path) -> None:
    ingest([corpus], ix, HashingEncoder(dim=DIM * 2), CONFIG, progress=False)


BAD_STARTS: dict[str, Callable[[Path, Path], None]] = {
    "missing": _missing, "corrupt": _corrupt, "mismatched": _mismatched,
}


def test_s6_not_ready_until_a_valid_index_is_published(tmp_path: Path) -> None:
    setups = {}
    for kind, damage in BAD_STARTS.items():
        root = tmp_path / kind
        ix, corpus = root / "index", make_corpus(root, "m0")
        damage(ix, corpus)
        setups[kind] = (ix, corpus)
    servers = {
        kind: ServerProcess(tmp_path / kind, serve_env(ix, tmp_path / kind, fake_dim=DIM,
                                                       reload_poll_s=0.2), fake_dim=DIM)
        for kind, (ix, _) in setups.items()
    }
    not_ready, ready_s = [], {}
    try:
        for kind, server in servers.items():  # started together: their imports overlap
            server.wait_live()
            status, body = server.wait_readyz(lambda s, b: b.get("status") != "loading")
            assert (status, body["status"]) == (503, "failed"), (kind, body, server.log())
            assert server.get("/healthz").status_code == 200
            ask = httpx.post(server.url + "/v1/ask", json={"question": "When?"}, timeout=30)
            assert ask.status_code == 503 and ask.headers.get("retry-after"), ask.text
            assert "citeqa_ready 0.0" in server.get("/metrics").text
            not_ready.append(kind)
        for kind, server in servers.items():
            ix, corpus = setups[kind]
            set_marker(corpus, "m1")  # new content, so the corrupt case publishes too
            assert ingest([corpus], ix, encoder(), CONFIG, progress=False).published
            published = time.monotonic()
            server.wait_readyz(lambda s, b: s == 200)
            ready_s[kind] = time.monotonic() - published
            assert server.get("/healthz").status_code == 200
    finally:
        for server in servers.values():
            server.__exit__()
    worst = max(ready_s.values())
    report(
        f"S6: {len(not_ready)}/{len(BAD_STARTS)} bad starts not ready; ready in {worst:.2f} s "
        f"after a valid publish (reload_poll_s 0.2; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in ready_s.items()) + "); /healthz 200 throughout"
    )
    assert not_ready == list(BAD_STARTS)
