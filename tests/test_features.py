"""Sentence features on small fixtures: bounded, deterministic, and meaning what they say."""

from __future__ import annotations

import numpy as np
import pytest

from index.lexical import tokenize
from index.store import load_snapshot
from retriever.corpus import Corpus
from retriever.features import FEATURES, _proximity, _ranks, sentence_features
from retriever.language.en import content_terms, question_type

from .conftest import index_of

COL = {name: i for i, name in enumerate(FEATURES)}


def test_proximity_is_matched_terms_over_the_tightest_window():
    tokens = ["the", "ferry", "x", "x", "pier", "ferry", "pier"]
    assert _proximity(tokens, frozenset({"ferry", "pier"})) == 2 / 2
    assert _proximity(["ferry", "x", "x", "pier"], frozenset({"ferry", "pier"})) == 2 / 4
    assert _proximity(["ferry", "x"], frozenset({"ferry", "pier"})) == 0.0  # one term: no window


def test_ranks_break_ties_by_row():
    values = np.array([0.5, 0.9, 0.5, 0.1], dtype=np.float32)
    rows = np.array([7, 3, 2, 9])
    assert _ranks(values, rows).tolist() == [2.0, 0.0, 1.0, 3.0]


@pytest.fixture()
def corpus(tmp_path, hashing_encoder):
    text = (
        "The Harbour Board met in Dover. The ferry crossing reopened on 3 May 2021.\n"
        "\n"
        "Fares rose by 5% after the crossing reopened.\n"
    )
    index_dir = index_of(tmp_path, hashing_encoder, {"a.txt": text})
    return Corpus.from_snapshot(load_snapshot(index_dir)), hashing_encoder


def _features(corpus, encoder, question):
    rows = np.arange(len(corpus.snapshot.content.sentences), dtype=np.int64)
    tokens = content_terms(tokenize(question))
    vector = encoder.encode([question])[0]
    bm25 = np.zeros(len(rows), dtype=np.float32)
    return sentence_features(
        corpus, rows, question, vector, tokens, question_type(question), bm25, {0: 1}
    )


def test_features_are_bounded_and_deterministic(corpus):
    c, encoder = corpus
    question = "When did the Harbour Board's ferry crossing reopen?"
    f = _features(c, encoder, question)
    assert f.shape == (len(c.snapshot.content.sentences), len(FEATURES))
    np.testing.assert_array_equal(f, _features(c, encoder, question))
    shares = [
        "overlap",
        "overlap_window",
        "overlap_local",
        "bigram",
        "dense_rank",
        "overlap_rank",
        "proximity",
        "name_match",
        "type_match",
        "type_missing",
        "type_match_time",
    ]
    assert ((f[:, [COL[n] for n in shares]] >= 0) & (f[:, [COL[n] for n in shares]] <= 1)).all()


def test_features_say_what_they_mean(corpus):
    c, encoder = corpus
    f = _features(c, encoder, "When did the Harbour Board's ferry crossing reopen?")
    sentences = [s.text for s in c.snapshot.content.sentences]
    board, reopened, fares = (
        next(i for i, s in enumerate(sentences) if s.startswith(p))
        for p in ("The Harbour Board", "The ferry crossing", "Fares")
    )
    # The date sentence holds the asked-for type; the name sentence holds the question's name.
    assert f[reopened, COL["type_match_time"]] == 1.0 and f[board, COL["type_match_time"]] == 0.0
    assert f[board, COL["name_match"]] == 1.0 and f[fares, COL["name_match"]] == 0.0
    # Only a sentence with a predecessor in its document has a previous-sentence similarity.
    assert f[board, COL["dense_prev"]] == 0.0 and f[reopened, COL["dense_prev"]] != 0.0
    # Exactly one candidate ranks first by each similarity.
    assert (f[:, COL["dense_rank"]] == 1.0).sum() == 1
    assert (f[:, COL["overlap_rank"]] == 1.0).sum() == 1
    # "crossing" is in two of three candidates, "ferry" in one: the local weight favours ferry.
    assert f[reopened, COL["overlap_local"]] > f[fares, COL["overlap_local"]]
