"""BM25 at scale: the project's LexicalIndex over real sentences topped up with generated ones
(eval.bench.textgen), measured for build time, memory and per-question latency."""

from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.lexical import LexicalIndex, tokenize

from .measure import Latency, rss_bytes, time_each
from .textgen import BigramModel

K = 10


@dataclass(frozen=True)
class LexicalResult:
    size: int
    real_units: int
    generated_units: int
    tokenize_s: float
    index_s: float
    index_bytes: int  # the saved bm25s files
    rss_delta_bytes: int
    tokens_per_unit: float
    latency: Latency  # tokenize the question + score every unit + top-10


def corpus_texts(real: list[str], size: int, *, seed: int = 0) -> list[str]:
    """``size`` texts: the real ones first, then generated from their bigram model."""
    kept = real[:size]
    if size <= len(kept):
        return kept
    return kept + BigramModel.fit(real).generate(size - len(kept), seed=seed)


def _saved_bytes(index: LexicalIndex) -> int:
    with tempfile.TemporaryDirectory(prefix="citeqa-bench-bm25-") as tmp:
        index.save(Path(tmp))
        return sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())


def measure_bm25(real: list[str], size: int, questions: list[str]) -> LexicalResult:
    texts = corpus_texts(real, size)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    tokens = [tokenize(t) for t in texts]
    tokenized = time.perf_counter()
    index = LexicalIndex.build(tokens)
    indexed = time.perf_counter()
    per_unit = float(np.mean([len(t) for t in tokens])) if tokens else 0.0
    del tokens, texts
    gc.collect()
    rss_delta = rss_bytes() - before

    def one(question: str) -> None:
        scores = index.scores(tokenize(question))
        np.argpartition(-scores, min(K, len(scores) - 1))[:K]

    latency = Latency.of(time_each(one, questions))
    real_units = min(size, len(real))
    return LexicalResult(size, real_units, size - real_units, round(tokenized - started, 2),
                         round(indexed - tokenized, 2), _saved_bytes(index), rss_delta,
                         round(per_unit, 1), latency)
