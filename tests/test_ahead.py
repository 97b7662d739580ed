"""Work computed ahead in worker processes: same results in the asked order, errors and crashes
kept to their own item, and an ingest whose records do not depend on the loader count."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from index.ahead import Ahead, Planned, WorkerCrashed
from index.pipeline import IngestConfig, ingest
from index.records import LoadError
from index.store import load_snapshot
from tests.fake_encoder import HashingEncoder


def _square_or_fail(n: int) -> tuple[int, int]:
    if n == 7:
        raise LoadError(f"file{n}", "not readable")
    if n == 11:
        os._exit(3)  # a parser that takes its process down with it
    return n, n * n


def _plan(numbers: range) -> list[Planned[int, int]]:
    return [Planned(n, n, size=100) for n in numbers]


@pytest.mark.parametrize("workers", [0, 2])
def test_results_come_back_in_the_asked_order_with_errors_on_their_own_item(workers) -> None:
    with Ahead(_square_or_fail, _plan(range(10)), workers, window=3, window_bytes=250) as ahead:
        got = []
        for n in range(10):
            try:
                got.append(ahead.result(n))
            except LoadError as exc:  # rebuilt with both fields in this process
                got.append((exc.path, exc.reason))
    assert got == [(n, n * n) if n != 7 else ("file7", "not readable") for n in range(10)]


def test_items_passed_over_are_skipped_and_unplanned_ones_refused() -> None:
    with Ahead(_square_or_fail, _plan(range(20)), 2, window=4, window_bytes=10_000) as ahead:
        assert ahead.result(2) == (2, 4)
        assert ahead.result(15) == (15, 225)  # 3..14 never asked: cancelled, window freed
        assert ahead.result(19) == (19, 361)
        with pytest.raises(KeyError):
            ahead.result(99)


@pytest.mark.parametrize("consumer_pause_s", [0.0, 0.5])
def test_a_crashing_item_is_reported_alone_and_the_others_still_come_back(
        consumer_pause_s: float) -> None:
    # With a pause (a slow encoder, a busy machine) the crash breaks the pool while the consumer
    # still asks for items computed before it, and before later items are submitted.
    with Ahead(_square_or_fail, _plan(range(8, 16)), 2, window=4, window_bytes=10_000) as ahead:
        outcomes: list[object] = []
        for n in range(8, 16):
            time.sleep(consumer_pause_s)
            try:
                outcomes.append(ahead.result(n))
            except WorkerCrashed:
                outcomes.append("crashed")
    assert outcomes == [(n, n * n) if n != 11 else "crashed" for n in range(8, 16)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Ahead(_square_or_fail, _plan(range(3)), -1, window=1, window_bytes=1)
    with pytest.raises(ValueError):
        Ahead(_square_or_fail, [Planned(1, 1, 1), Planned(1, 2, 1)], 0, window=1, window_bytes=1)


def _collection(root: Path) -> Path:
    root.mkdir()
    for i in range(40):
        paragraphs = [f"Document {i} talks about topic {j}. It has a second sentence {i * j}."
                      for j in range(1 + i % 5)]
        (root / f"d{i:03d}.txt").write_text("\n\n".join(paragraphs))
    (root / "page.html").write_text("<html><body><p>An HTML page. With two sentences.</p>"
                                    "</body></html>")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    return root


def _built(corpus: Path, index_dir: Path, loaders: int) -> tuple[dict[str, object], list[str]]:
    report = ingest([corpus], index_dir, HashingEncoder(dim=32),
                    IngestConfig(loaders=loaders), progress=False)
    assert report.published
    with load_snapshot(index_dir) as snapshot:
        documents = snapshot.manifest["documents"]
        vectors = snapshot.content.sentence_vectors.tobytes().hex()
    skipped = [f"{Path(e.path).name}: {e.reason}" for e in report.skipped]
    return {"documents": documents, "vectors": vectors}, skipped


def test_ingest_builds_the_same_version_with_loader_processes_as_without(tmp_path) -> None:
    corpus = _collection(tmp_path / "corpus")
    alone, skipped_alone = _built(corpus, tmp_path / "ix0", loaders=0)
    ahead, skipped_ahead = _built(corpus, tmp_path / "ix2", loaders=2)
    assert json.dumps(alone, sort_keys=True) == json.dumps(ahead, sort_keys=True)
    assert skipped_alone == skipped_ahead and [s.split(":")[0] for s in skipped_ahead] == [
        "broken.pdf"]
