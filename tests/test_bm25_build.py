"""BM25 built block by block from token ids scores exactly as bm25s's own build."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from index import bm25_build
from index.bm25_build import SENTINEL, write_bm25
from index.durable import Steps
from index.lexical import LexicalIndex, tokenize
from index.npy_stream import NpyAppender, NpyRows
from index.tables import Vocabulary

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _write_csr(tmp: Path, token_lists: list[list[str]], vocabulary: Vocabulary) -> tuple[
        NpyRows, np.ndarray]:
    appender = NpyAppender(tmp / "ids.npy", np.int32, (), tmp, Steps(None))
    offsets = [0]
    for tokens in token_lists:
        appender.append(vocabulary.encode(tokens))
        offsets.append(offsets[-1] + len(tokens))
    appender.finish()
    return NpyRows(tmp / "ids.npy"), np.array(offsets, dtype=np.int64)


def _both(tmp: Path, token_lists: list[list[str]], k1: float = 1.2, b: float = 0.75):
    vocabulary = Vocabulary()
    ids, offsets = _write_csr(tmp, token_lists, vocabulary)
    sentinel = vocabulary.id_of(SENTINEL)
    df = write_bm25(tmp / "bm25", ids, offsets, len(vocabulary), sentinel, k1=k1, b=b,
                    root=tmp, steps=Steps(None))
    return LexicalIndex.build(token_lists, k1=k1, b=b), \
        LexicalIndex.load(tmp / "bm25", vocabulary.ids), df, vocabulary


def _queries(token_lists: list[list[str]], rng: random.Random) -> list[list[str]]:
    words = sorted({t for tokens in token_lists for t in tokens})
    return [rng.sample(words, min(len(words), rng.randint(1, 6))) + ["unseen"]
            for _ in range(200)]


def test_seed_sentences_score_bit_for_bit_as_bm25s(tmp_path: Path) -> None:
    lines = [line for f in sorted(SEEDS.iterdir()) for line in f.read_text().splitlines()]
    token_lists = [tokenize(line) for line in lines]  # blank lines: units without tokens
    assert any(not t for t in token_lists)
    reference, built, df, vocabulary = _both(tmp_path, token_lists)
    for query in _queries(token_lists, random.Random(0)):
        assert np.array_equal(reference.scores(query), built.scores(query)), query
    counted: dict[str, int] = {}
    for tokens in token_lists:
        for t in set(tokens) or {SENTINEL}:
            counted[t] = counted.get(t, 0) + 1
    assert {t: int(df[i]) for t, i in vocabulary.ids.items() if df[i]} == counted


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (0.9, 0.4)])
def test_small_blocks_and_column_ranges_change_nothing(tmp_path: Path, monkeypatch, k1,
                                                       b) -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(300)]
    token_lists = [[rng.choice(words) for _ in range(rng.choice([0, 1, 3, 8, 20]))]
                   for _ in range(2000)]
    monkeypatch.setattr(bm25_build, "TOKEN_BLOCK", 97)
    monkeypatch.setattr(bm25_build, "PAIR_BLOCK", 301)
    monkeypatch.setattr(bm25_build, "RANGE_NNZ", 500)
    reference, built, _, _ = _both(tmp_path, token_lists, k1, b)
    for query in _queries(token_lists, rng):
        assert np.array_equal(reference.scores(query), built.scores(query)), query
