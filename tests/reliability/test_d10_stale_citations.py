"""D10: stale citations. The red-team run: a real server answers 16 questions, the collection is
re-ingested with every document changed so that every offset moves, and each citation just given
is fetched again the way its links fetch it. Every fetch with the answer's ``index_version`` must
return exactly the quoted text; once that version has been garbage-collected, a fetch must say so
(410 Gone, problem+json) rather than serve other text. The same fetch without ``?version=`` (the
newest text, which is all the endpoint served before) is counted for comparison.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from index.pipeline import IngestConfig, ingest
from index.store import list_versions
from retriever.schema import Answer
from service.slack_blocks import answer_blocks
from tests.service_helpers import HTTP_TIMEOUT, running

from .common import REPO, encoder, report
from .service_app import hashing_loader, hashing_settings

CITATIONS = 16
TOKEN = "d10-admin-token-0123456789abcdef"
KEEP_ONE = IngestConfig(keep_versions=1)  # GC keeps CURRENT and the one before it (and leases)
GOLD = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text().splitlines()
        if line.strip()]
QUESTIONS = [g["question"] for g in GOLD if g["docs"]][:CITATIONS]


def _revise(corpus: Path, note: str) -> None:
    """Re-ingest material: every document gains a first paragraph, so every offset moves."""
    for path in sorted(corpus.iterdir()):
        path.write_text(f"{note}\n\n{path.read_text(encoding='utf-8')}", encoding="utf-8")


def _publish(ix: Path, corpus: Path) -> str:
    result = ingest([corpus], ix, encoder(), KEEP_ONE, progress=False)
    assert result.published and result.version
    return result.version


def _slack_version(answer: dict[str, Any], base: str) -> str | None:
    """The version the Slack message's first document-view link names."""
    blocks = answer_blocks(Answer.model_validate(answer), "a1", base)
    text = json.dumps(blocks)
    start = text.find(base + "/documents/")
    link = text[start:].split("|", 1)[0] if start >= 0 else ""
    versions = parse_qs(urlsplit(link).query).get("version", [])
    return versions[0] if versions else None


def _fetch_all(client: httpx.Client, cited: list[dict[str, Any]],
               version: str | None) -> list[httpx.Response]:
    return [client.get(f"/v1/documents/{c['doc_id']}",
                       params={"version": version} if version else None) for c in cited]


def _differs(response: httpx.Response, c: dict[str, Any]) -> bool:
    return response.status_code == 200 and response.json()["text"][c["start"]:c["end"]] != c[
        "quote"]


def test_d10_citations_resolve_to_their_version_or_410(tmp_path: Path) -> None:
    corpus, ix = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(REPO / "seeds", corpus)
    answered_by = _publish(ix, corpus)
    auth = {"authorization": f"Bearer {TOKEN}"}
    with (running(lambda url: hashing_settings(ix, tmp_path, admin_token=TOKEN),
                  hashing_loader()) as live,
          httpx.Client(base_url=live.url, timeout=HTTP_TIMEOUT) as client):
        answers = [client.post("/v1/ask", json={"question": q}).json() for q in QUESTIONS]
        assert {a["index_version"] for a in answers} == {answered_by}
        cited = [a["citations"][0] for a in answers]
        assert len(cited) == CITATIONS
        slack = [_slack_version(a, live.url) for a in answers]

        _revise(corpus, "Revised: this page was updated after review.")
        newest = _publish(ix, corpus)
        assert client.post("/admin/reload", headers=auth).json()["index_version"] == newest
        unpinned = _fetch_all(client, cited, None)
        pinned = _fetch_all(client, cited, answered_by)

        # Two more publishes, the server following: the answering version is then neither
        # CURRENT, the one before it, among the newest kept, nor served, so GC removes it.
        for note in ("Revised again.", "Revised a third time."):
            _revise(corpus, note)
            _publish(ix, corpus)
            client.post("/admin/reload", headers=auth)
        assert answered_by not in list_versions(ix)
        collected = _fetch_all(client, cited, answered_by)

    stale = sum(_differs(r, c) for r, c in zip(unpinned, cited, strict=True))
    exact = sum(r.status_code == 200 and r.json()["text"][c["start"]:c["end"]] == c["quote"]
                for r, c in zip(pinned, cited, strict=True))
    pinned_wrong = sum(_differs(r, c) for r, c in zip(pinned, cited, strict=True))
    gone = sum(r.status_code == 410 and r.headers["content-type"].startswith(
        "application/problem+json") for r in collected)
    gone_wrong = sum(_differs(r, c) for r, c in zip(collected, cited, strict=True))
    linked = sum(v == answered_by for v in slack)
    report(
        f"D10: {CITATIONS} citations, then a re-ingest that moves every offset → fetched with "
        f"the answer's ?version=: {pinned_wrong}/{CITATIONS} pointed at different text "
        f"({exact}/{CITATIONS} exact); without ?version= (the newest text, all the endpoint "
        f"served before): {stale}/{CITATIONS} different; after GC removed that version: "
        f"{gone}/{CITATIONS} answered 410 Gone (problem+json), {gone_wrong} served other text; "
        f"Slack document links naming the answer's version: {linked}/{CITATIONS}"
    )
    assert pinned_wrong == 0 and exact == CITATIONS
    assert gone == CITATIONS and gone_wrong == 0
    assert linked == CITATIONS
