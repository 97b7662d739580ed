"""Ingest streams: what it holds at its peak does not grow with the collection's text.

Measured with tracemalloc (Python and numpy allocations) over two collections of the same kind,
one four times the other. Holding every unit (records, tokens, vectors), as ingest once did, costs
tens of kilobytes per document here; streaming leaves per-document bookkeeping (the manifest's
entry, the file's name), a small fraction of that.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from pathlib import Path

from index import bm25_build, npy_stream
from index.pipeline import IngestConfig, ingest
from tests.fake_encoder import HashingEncoder

# Each document below holds about 2,000 characters in 25 sentences. The bound leaves room for
# cyclic garbage that earlier tests' objects delay collecting; holding every unit costs several
# times more (figures in eval/results/bench/bounded-memory.md).
PER_DOCUMENT_BYTES = 16_000


def _collection(root: Path, documents: int) -> Path:
    rng = random.Random(documents)
    words = [f"w{i}" for i in range(2000)]
    root.mkdir(parents=True)
    for i in range(documents):
        sentences = (" ".join(rng.choice(words) for _ in range(12)).capitalize() + "."
                     for _ in range(25))
        (root / f"d{i:05d}.txt").write_text(" ".join(sentences))
    return root


def _peak(tmp: Path, documents: int) -> int:
    corpus = _collection(tmp / f"c{documents}", documents)
    gc.collect()
    tracemalloc.start()
    try:
        report = ingest([corpus], tmp / f"ix{documents}", HashingEncoder(dim=64),
                        IngestConfig(max_file_bytes=100_000), progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert report.published and report.documents == documents


def test_ingest_peak_memory_grows_by_bookkeeping_not_by_text(tmp_path, monkeypatch) -> None:
    # Small blocks, so that both collections span many blocks of every block-wise pass.
    monkeypatch.setattr(bm25_build, "TOKEN_BLOCK", 2_000)
    monkeypatch.setattr(bm25_build, "PAIR_BLOCK", 2_000)
    monkeypatch.setattr(bm25_build, "RANGE_NNZ", 5_000)
    monkeypatch.setattr(npy_stream, "BLOCK_ROWS", 256)
    small, large = _peak(tmp_path, 150), _peak(tmp_path, 600)
    assert (large - small) / 450 < PER_DOCUMENT_BYTES, (small, large)

