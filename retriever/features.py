"""Sentence features for answer selection. Each is a clear, bounded signal:

- ``dense``: cosine of question and sentence vectors (both computed before the query).
- ``dense_chunk``: cosine of question and the sentence's chunk (context).
- ``bm25``: the sentence's BM25 score divided by the best candidate's.
- ``overlap``: IDF-weighted share of question tokens that the sentence contains.
- ``overlap_window``: the same over the sentence and its neighbours (answers often sit next to the
  sentence that repeats the question's words).
- ``bigram``: share of the question's adjacent token pairs that occur in the sentence (phrases
  match, not just words).
- ``overlap_local``: ``overlap`` with each term's IDF also discounted by how many candidates hold
  it (a term every candidate shares, such as the article's subject, says nothing about which).
- ``dense_prev``: ``dense`` of the previous sentence (an answer often follows the sentence that
  names the subject: "... the MoU ... . Signed on 19 February ...").
- ``dense_rank`` / ``overlap_rank``: 1/(1 + rank) of the sentence among the candidates by
  ``dense`` / by ``overlap`` (ranks compare across questions; raw similarities do not).
- ``proximity``: matched distinct question terms / the tightest token window holding them all.
- ``name_match``: share of the question's proper names the sentence holds verbatim.
- ``chunk_rrf``: 1/rank of the sentence's chunk in the fused retrieval (0 when not retrieved).
- ``type_match`` / ``type_missing``: the question wants a date/amount/person/… and the sentence
  has one that the question does not already state / has none.
- ``type_match_time`` / ``type_match_quantity``: ``type_match`` again for dates and quantities,
  whose mentions the patterns find reliably (names are found by capitalisation, so a name
  match says less).
- ``no_novelty``: every content word of the sentence is already in the question.
- ``heading``, ``short``: headings and fragments rarely answer anything.
- ``list_lead``: a list question meets a line introducing a list.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

import numpy as np

from .corpus import Corpus
from .language.en import AnswerType, matching_mentions, mentions

FEATURES = (
    "dense",
    "dense_chunk",
    "bm25",
    "overlap",
    "overlap_window",
    "chunk_rrf",
    "type_match",
    "type_missing",
    "no_novelty",
    "heading",
    "short",
    "list_lead",
    "bigram",
    "overlap_local",
    "dense_prev",
    "dense_rank",
    "overlap_rank",
    "proximity",
    "name_match",
    "type_match_time",
    "type_match_quantity",
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
_POSSESSIVE = re.compile(r"['’]s?$")
_TIME: frozenset[str] = frozenset({"date", "year"})
_QUANTITY: frozenset[str] = frozenset({"amount", "percent", "count", "number"})
_TYPED: frozenset[str] = frozenset(
    {"date", "year", "amount", "percent", "count", "number", "person", "place", "org", "name"}
)


def term_idf(corpus: Corpus, question_tokens: Sequence[str]) -> dict[str, float]:
    """IDF of each distinct question term."""
    return {t: corpus.idf_of(t) for t in set(question_tokens)}


def window_tokens(corpus: Corpus, row: int) -> frozenset[str]:
    """Tokens of a sentence and its neighbours in the same document."""
    window = set(corpus.sentence_token_sets[row])
    for nb in corpus.neighbours(row):
        window |= corpus.sentence_token_sets[nb]
    return frozenset(window)


def sentence_features(
    corpus: Corpus,
    rows: np.ndarray,
    question: str,
    question_vector: np.ndarray,
    question_tokens: list[str],
    qtype: AnswerType,
    bm25_scores: np.ndarray,
    chunk_rank: dict[int, int],
) -> np.ndarray:
    """An (len(rows), len(FEATURES)) float32 matrix, one row per candidate sentence."""
    out = row_features(corpus, rows, question, question_vector, question_tokens, qtype,
                       bm25_scores, chunk_rank)
    candidate_features(out, rows, [corpus.sentence_token_sets[row] for row in rows.tolist()],
                       term_idf(corpus, question_tokens), question_tokens)
    return out


def row_dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row's dot product with ``vector``, computed the same whatever rows share the batch
    (a BLAS matrix-vector product rounds a row differently by its place in the batch, and a
    sharded index computes a candidate's features among other candidates than one index)."""
    return np.einsum("ij,j->i", matrix, vector)


def row_features(
    corpus: Corpus,
    rows: np.ndarray,
    question: str,
    question_vector: np.ndarray,
    question_tokens: list[str],
    qtype: AnswerType,
    bm25_scores: np.ndarray,
    chunk_rank: dict[int, int],
) -> np.ndarray:
    """The features of each candidate that depend on it alone (its document, its chunk's fused
    rank, collection statistics); ``bm25`` holds the raw score and the columns that compare the
    candidates are left to ``candidate_features``. A sharded index computes these on the shard
    that holds the sentence, the rest where the candidates meet."""
    content = corpus.snapshot.content
    col = _COLUMN
    out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
    if not len(rows):
        return out
    owners = corpus.owner_chunk[rows]
    out[:, col["dense"]] = row_dots(content.sentence_vectors[rows], question_vector)
    out[:, col["dense_chunk"]] = row_dots(content.chunk_vectors[owners], question_vector)
    out[:, col["bm25"]] = bm25_scores[rows]
    q_set = frozenset(question_tokens)
    q_bigrams = set(zip(question_tokens, question_tokens[1:], strict=False))
    q_names = _question_names(question)
    typed = qtype in _TYPED
    idf = term_idf(corpus, question_tokens)
    idf_total = sum(idf.values())
    token_set = functools.cache(corpus.sentence_token_sets.__getitem__)  # neighbours reuse
    has_prev = np.zeros(len(rows), dtype=bool)
    for i, row in enumerate(rows.tolist()):
        role = corpus.role_of(row)
        text = corpus.sentence_text(row) if typed or q_names else ""
        tokens = token_set(row)
        f = out[i]
        # Coverage shares, from the few question terms a sentence holds (set intersections).
        matched = tokens & q_set
        window = set(matched)
        for nb in corpus.neighbours(row):
            window |= token_set(nb) & q_set
        if idf_total > 0:
            f[col["overlap"]] = sum(idf[t] for t in matched) / idf_total
            f[col["overlap_window"]] = sum(idf[t] for t in window) / idf_total
        rank = chunk_rank.get(int(owners[i]))
        f[col["chunk_rrf"]] = 1.0 / rank if rank else 0.0
        if typed:
            found = corpus.sentence_mentions(row)
            has = bool(matching_mentions(qtype, text, question, found))
            f[col["type_match"]] = 1.0 if has else 0.0
            f[col["type_missing"]] = 0.0 if has else 1.0
            if has and qtype in _TIME:
                f[col["type_match_time"]] = 1.0
            if has and qtype in _QUANTITY:
                f[col["type_match_quantity"]] = 1.0
        f[col["no_novelty"]] = 1.0 if tokens and tokens <= q_set else 0.0
        f[col["heading"]] = 1.0 if role == "heading" else 0.0
        f[col["short"]] = 1.0 if len(tokens) < 4 else 0.0
        f[col["list_lead"]] = 1.0 if qtype == "list" and role == "lead_in" else 0.0
        if q_bigrams:
            f[col["bigram"]] = len(q_bigrams & corpus.sentence_bigrams[row]) / len(q_bigrams)
        has_prev[i] = corpus.same_document(row, row - 1)
        if len(matched) > 1:
            f[col["proximity"]] = _proximity(content.sentence_tokens[row], q_set)
        if q_names:
            f[col["name_match"]] = sum(n in text for n in q_names) / len(q_names)
    if has_prev.any():
        prev_rows = rows[has_prev] - 1
        out[has_prev, col["dense_prev"]] = row_dots(content.sentence_vectors[prev_rows],
                                                    question_vector)
    return out


def candidate_features(
    out: np.ndarray,
    rows: np.ndarray,
    token_sets: Sequence[frozenset[str]],
    idf: dict[str, float],
    question_tokens: Sequence[str],
) -> None:
    """Complete ``row_features``' matrix in place with the columns that compare each candidate
    with all the others: ``bm25`` over the best candidate's, ``overlap_local`` and the ranks.
    ``rows`` order ties (any ids that sort as the candidates' rows do); ``token_sets`` are the
    candidates' token sets, ``idf`` is ``term_idf``'s."""
    col = _COLUMN
    if not len(rows):
        return
    bm25 = out[:, col["bm25"]].copy()
    top = float(bm25.max()) if len(bm25) else 0.0
    out[:, col["bm25"]] = bm25 / top if top > 0 else 0.0
    q_set = frozenset(question_tokens)
    local_idf = _local_idf(token_sets, idf)
    local_total = sum(local_idf.values())
    if local_total > 0:
        for i, tokens in enumerate(token_sets):
            matched = tokens & q_set
            out[i, col["overlap_local"]] = sum(local_idf[t] for t in matched) / local_total
    out[:, col["dense_rank"]] = 1.0 / (1.0 + _ranks(out[:, col["dense"]], rows))
    out[:, col["overlap_rank"]] = 1.0 / (1.0 + _ranks(out[:, col["overlap"]], rows))


def _question_names(question: str) -> list[str]:
    """The question's proper names, without a possessive ending ("Oxford's" names Oxford)."""
    names = {_POSSESSIVE.sub("", m.text) for m in mentions(question) if m.kind == "name"}
    return sorted(n for n in names if n)


def _local_idf(
    token_sets: Sequence[frozenset[str]], term_idf: dict[str, float]
) -> dict[str, float]:
    """Question-term weights discounted by how many of the candidates hold the term."""
    n = len(token_sets)
    df = dict.fromkeys(term_idf, 0)
    for tokens in token_sets:
        for t in tokens & term_idf.keys():
            df[t] += 1
    return {t: v * math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t, v in term_idf.items()}


def _ranks(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """0-based rank of each value, highest first, ties broken by row id (deterministic)."""
    order = np.lexsort((rows, -values))
    ranks = np.empty(len(values), dtype=np.float32)
    ranks[order] = np.arange(len(values), dtype=np.float32)
    return ranks


def _proximity(tokens: list[str], q_set: frozenset[str]) -> float:
    """Matched distinct question terms / length of the tightest token window holding them all
    (0 with fewer than two matched terms)."""
    hits = [(i, t) for i, t in enumerate(tokens) if t in q_set]
    need = len({t for _, t in hits})
    if need < 2:
        return 0.0
    best, lo = len(tokens), 0
    counts: dict[str, int] = {}
    for pos, term in hits:
        counts[term] = counts.get(term, 0) + 1
        while len(counts) == need:
            best = min(best, pos - hits[lo][0] + 1)
            first = hits[lo][1]
            counts[first] -= 1
            if not counts[first]:
                del counts[first]
            lo += 1
    return need / best
