"""Hot reload: EngineRunner.reload on a real index (hashing encoder at the model seam), the leases
that keep garbage collection off a version in use, and the admin endpoint on a real server."""

from __future__ import annotations

import asyncio
import html
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from index.pipeline import IngestConfig, ingest
from index.store import collect_garbage, list_versions, writer_lock
from retriever.engine import Engine
from service.admin import is_local
from service.metrics import Metrics
from service.runtime import EngineRunner
from service.settings import Settings
from service.wiring import open_engine
from tests.reliability.common import TRIAL_DOC, encoder, make_corpus, set_marker
from tests.service_helpers import http_get, http_post, make_settings, running

TOKEN = "a-test-admin-token-0123456789"
KEEP_ONE = IngestConfig(keep_versions=1)


def publish(index_dir: Path, corpus: Path, marker: str, enc: Any = None) -> str:
    set_marker(corpus, marker)
    report = ingest([corpus], index_dir, enc or encoder(), KEEP_ONE, progress=False)
    assert report.published
    return report.version


def loader(settings: Settings) -> Engine:
    return open_engine(settings, encoder())


def reloads(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value("citeqa_index_reloads_total", {"outcome": outcome})
    return value or 0.0


def run_with_runner(index_dir: Path, tmp: Path, body: Callable[[EngineRunner], Any]) -> Any:
    async def main() -> Any:
        runner = EngineRunner(make_settings(index_dir, tmp, encoder=encoder()), loader, Metrics())
        try:
            await runner.load()
            return await body(runner)
        finally:
            await runner.aclose()

    return asyncio.run(main())


def test_reload_swaps_and_an_old_version_stays_leased_while_a_job_uses_it(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    v1 = publish(ix, corpus, "m1")
    release = threading.Event()

    async def body(runner: EngineRunner) -> None:
        assert runner.engine is not None and runner.engine.version == v1
        busy = runner.submit(lambda engine: release.wait(30))  # the engine thread is busy
        queued = runner.submit(lambda engine: engine.ask("Which marker is unique?"))
        v2 = publish(ix, corpus, "m2")
        result = await runner.reload()  # loads on the loader thread, not behind the busy one
        assert (result.outcome, result.index_version, result.previous_version) == (
            "swapped", v2, v1)
        later = runner.submit(lambda engine: engine.ask("Which marker is unique?"))
        publish(ix, corpus, "m3")  # its GC may not remove v1: a queued job still holds it
        assert v1 in list_versions(ix)
        release.set()
        await runner.wait(busy)
        assert (await runner.wait(queued)).index_version == v1  # the engine it was queued with
        assert (await runner.wait(later)).index_version == v2
        with writer_lock(ix):
            removed = collect_garbage(ix, keep=1)
        assert v1 in removed and v2 in list_versions(ix)  # v2 is served: leased, kept

    run_with_runner(ix, tmp_path, body)


def test_reload_with_current_unchanged_is_a_no_op(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    v1 = publish(ix, corpus, "m1")

    async def body(runner: EngineRunner) -> None:
        engine = runner.engine
        result = await runner.reload()
        assert (result.outcome, result.index_version) == ("unchanged", v1)
        assert runner.engine is engine and reloads(runner.metrics, "unchanged") == 1

    run_with_runner(ix, tmp_path, body)


def _corrupt(ix: Path, corpus: Path) -> None:
    version = publish(ix, corpus, "bad")
    path = ix / version / "chunks.jsonl"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))


def _mismatched(ix: Path, corpus: Path) -> None:
    publish(ix, corpus, "bad", type(encoder())(dim=64))


def _missing(ix: Path, corpus: Path) -> None:
    (ix / "CURRENT").unlink()


@pytest.mark.parametrize("damage, reason", [
    (_corrupt, "corrupt"), (_mismatched, "mismatched"), (_missing, "missing"),
])
def test_a_refused_version_keeps_the_served_one(tmp_path, damage, reason):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    v1 = publish(ix, corpus, "m1")

    async def body(runner: EngineRunner) -> None:
        damage(ix, corpus)
        result = await runner.reload()
        assert (result.outcome, result.reason, result.index_version) == ("failed", reason, v1)
        assert runner.state == "ready" and runner.engine is not None
        answer = await runner.run(lambda engine: engine.ask("Which marker is unique?"))
        assert answer.index_version == v1
        assert reloads(runner.metrics, "failed") == 1

    run_with_runner(ix, tmp_path, body)


def test_a_failed_cold_start_becomes_ready_after_a_valid_publish(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)

    async def body(runner: EngineRunner) -> None:
        assert runner.state == "failed" and runner.engine is None
        version = publish(ix, corpus, "m1")
        assert (await runner.reload()).outcome == "swapped"
        assert runner.state == "ready" and runner.engine is not None
        assert runner.engine.version == version

    run_with_runner(ix, tmp_path, body)


# ---- the admin endpoint on a real server --------------------------------------------------


def _request(host: str, headers: dict[str, str] | None = None) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "client": (host, 5000), "headers": raw})


def test_only_direct_loopback_peers_are_local():
    assert is_local(_request("127.0.0.1")) and is_local(_request("::1"))
    assert not is_local(_request("10.1.2.3"))
    assert not is_local(_request("testclient"))
    assert not is_local(_request("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}))
    assert not is_local(_request("127.0.0.1", {"forwarded": "for=203.0.113.9"}))


def test_admin_reload_needs_loopback_and_the_token(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    v1 = publish(ix, corpus, "m1")

    def settings(url: str) -> Settings:
        return make_settings(ix, tmp_path, encoder=encoder(), admin_token=TOKEN)

    with running(settings, loader) as live:
        url = live.url + "/admin/reload"
        auth = {"authorization": f"Bearer {TOKEN}"}
        assert http_post(url).status_code == 403
        assert http_post(url, headers={"authorization": "Bearer " + "x" * len(TOKEN)}
                         ).status_code == 403
        assert http_post(url, headers={**auth, "x-forwarded-for": "203.0.113.9"}
                         ).status_code == 404
        unchanged = http_post(url, headers=auth)
        assert unchanged.status_code == 200 and unchanged.json()["outcome"] == "unchanged"
        v2 = publish(ix, corpus, "m2")
        swapped = http_post(url, headers=auth).json()
        assert (swapped["outcome"], swapped["index_version"], swapped["previous_version"]) == (
            "swapped", v2, v1)
        assert http_get(live.url + "/readyz").json()["index_version"] == v2
        _mismatched(ix, corpus)
        refused = http_post(url, headers=auth)
        assert refused.status_code == 409 and refused.json()["reason"] == "mismatched"
        assert refused.json()["index_version"] == v2
        assert "/admin/reload" not in http_get(live.url + "/openapi.json").json()["paths"]


def test_admin_reload_does_not_exist_without_a_token(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    publish(ix, corpus, "m1")
    with running(lambda url: make_settings(ix, tmp_path, encoder=encoder()), loader) as live:
        r = http_post(live.url + "/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404


# ---- citations resolve to the version that answered --------------------------------------------


def _shift_every_document(corpus: Path) -> None:
    """A re-ingest that moves every offset: each document gains a first line."""
    for path in sorted(corpus.iterdir()):
        path.write_text("Revised after review.\n" + path.read_text())


def test_a_citation_resolves_to_its_version_after_a_reingest_and_is_410_once_collected(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    v1 = publish(ix, corpus, "m1")
    auth = {"authorization": f"Bearer {TOKEN}"}

    def settings(url: str) -> Settings:
        return make_settings(ix, tmp_path, encoder=encoder(), admin_token=TOKEN)

    with running(settings, loader) as live:
        answer = http_post(live.url + "/v1/ask",
                           json={"question": "When did Liverpool and Oxford sign a partnership?"})
        assert answer.status_code == 200 and answer.json()["index_version"] == v1
        cited = answer.json()["citations"][0]
        start, end, quote = cited["start"], cited["end"], cited["quote"]
        url = f"{live.url}/v1/documents/{cited['doc_id']}"

        _shift_every_document(corpus)
        v2 = publish(ix, corpus, "m2")
        assert http_post(live.url + "/admin/reload", headers=auth).json()["index_version"] == v2
        newest = http_get(url).json()
        assert newest["index_version"] == v2 and newest["text"][start:end] != quote  # as before
        pinned = http_get(url, params={"version": v1})
        assert pinned.status_code == 200, pinned.text
        assert pinned.json()["index_version"] == v1 and pinned.json()["text"][start:end] == quote
        served = http_get(url, params={"version": v2}).json()
        assert served == newest  # the served version's own name reads from memory, as before
        # The page a widget or Slack citation opens highlights the same text.
        page = http_get(f"{live.url}/documents/{cited['doc_id']}",
                        params={"version": v1, "start": start, "end": end})
        assert page.status_code == 200 and f"index {v1}" in page.text
        assert f'<mark id="quote">{html.escape(quote)}</mark>' in page.text

        publish(ix, corpus, "m3")  # v1 is now neither CURRENT, the one before it, nor served
        assert v1 not in list_versions(ix)
        gone = http_get(url, params={"version": v1})
        assert gone.status_code == 410 and gone.headers["content-type"].startswith(
            "application/problem+json")
        assert gone.json()["title"] == "Gone" and quote not in gone.text
        other = http_get(f"{live.url}/v1/documents/{TRIAL_DOC}", params={"version": v1})
        assert other.status_code == 410  # every document of a collected version
        never = v1[:8] + ("0" if v1[8] != "0" else "1") + v1[9:]  # its number, another digest
        assert http_get(url, params={"version": never}).status_code == 404


def test_garbage_collection_keeps_superseded_versions_for_the_grace_period(tmp_path):
    ix, corpus = tmp_path / "ix", make_corpus(tmp_path)
    keep_all = IngestConfig(keep_versions=50)
    versions = []
    for marker in ("g1", "g2", "g3", "g4"):
        set_marker(corpus, marker)
        versions.append(ingest([corpus], ix, encoder(), keep_all, progress=False).version)
    v1, v2, v3, v4 = versions
    with writer_lock(ix):
        assert collect_garbage(ix, keep=1, grace_s=3600) == []  # all superseded just now
    hours_ago = time.time() - 2 * 3600
    os.utime(ix / v2 / "manifest.json", (hours_ago, hours_ago))  # v2 replaced v1 two hours ago
    with writer_lock(ix):
        assert collect_garbage(ix, keep=1, grace_s=3600) == [v1]
        assert list_versions(ix) == [v2, v3, v4]
        assert collect_garbage(ix, keep=1) == [v2]  # no grace: the rule as before
