"""Sentence features for answer selection. Each is a clear, bounded signal:

- ``dense``: cosine of question and sentence vectors (both computed before the query).
- ``dense_chunk``: cosine of question and the sentence's chunk (context).
- ``bm25``: the sentence's BM25 score divided by the best candidate's.
- ``overlap``: IDF-weighted share of question tokens that the sentence contains.
- ``overlap_window``: the same over the sentence and its neighbours (answers often sit next to the
  sentence that repeats the question's words).
- ``bigram``: share of the question's adjacent token pairs that occur in the sentence (phrases
  match, not just words).
- ``chunk_rrf``: 1/rank of the sentence's chunk in the fused retrieval (0 when not retrieved).
- ``type_match`` / ``type_missing``: the question wants a date/amount/person/… and the sentence
  has one that the question does not already state / has none.
- ``no_novelty``: every content word of the sentence is already in the question.
- ``heading``, ``short``: headings and fragments rarely answer anything.
- ``list_lead``: a list question meets a line introducing a list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .answer_types import AnswerType, matching_mentions
from .corpus import Corpus

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
)
_TYPED: frozenset[str] = frozenset(
    {"date", "year", "amount", "percent", "count", "number", "person", "place", "org", "name"}
)


def _term_idf(corpus: Corpus, question_tokens: Sequence[str]) -> dict[str, float]:
    return {t: corpus.idf_of(t) for t in set(question_tokens)}


def _coverage(term_idf: dict[str, float], tokens: frozenset[str]) -> float:
    """IDF-weighted share of the question's terms that ``tokens`` contains."""
    total = sum(term_idf.values())
    if total <= 0:
        return 0.0
    return sum(v for t, v in term_idf.items() if t in tokens) / total


def window_tokens(corpus: Corpus, row: int) -> frozenset[str]:
    """Tokens of a sentence and its neighbours in the same document."""
    sentences = corpus.snapshot.content.sentences
    window = set(corpus.sentence_token_sets[row])
    for nb in (row - 1, row + 1):
        if 0 <= nb < len(sentences) and sentences[nb].doc_id == sentences[row].doc_id:
            window |= corpus.sentence_token_sets[nb]
    return frozenset(window)


def coverage_gaps(
    corpus: Corpus,
    question_tokens: Sequence[str],
    row: int,
    absent: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """Evidence that the answer is absent from the collection:

    - ``uncovered_rarest``: IDF of the rarest question term missing from the answer's window,
      relative to the question's rarest term (1.0: the most specific term is not there);
    - ``unknown_mass``: IDF-weighted share of question terms that occur nowhere in the collection;
    - ``matched_evidence``: the IDF of the question terms the window does contain, in units of
      the rarest possible term (absolute, unlike the shares: a window sharing only a word that is
      everywhere in the collection links it to the question weakly, however short the question).

    ``absent`` lists terms to treat as unseen (weight fitting uses it to simulate a collection
    without the documents that hold the answer)."""
    terms = set(question_tokens)
    if not terms:
        return {"uncovered_rarest": 0.0, "unknown_mass": 0.0, "matched_evidence": 0.0}
    window = window_tokens(corpus, row) - absent
    idf = {t: corpus.idf_of("\x00unseen") if t in absent else corpus.idf_of(t) for t in terms}
    rarest = max(idf.values())
    missing = [idf[t] for t in terms if t not in window]
    unknown = sum(idf[t] for t in terms if t in absent or t not in corpus.idf)
    total = sum(idf.values())
    matched = sum(idf[t] for t in terms if t in window)
    return {
        "uncovered_rarest": max(missing, default=0.0) / rarest if rarest > 0 else 0.0,
        "unknown_mass": unknown / total if total > 0 else 0.0,
        "matched_evidence": matched / corpus.idf_of("\x00unseen"),
    }


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
    content = corpus.snapshot.content
    out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
    if not len(rows):
        return out
    owners = corpus.owner_chunk[rows]
    out[:, 0] = content.sentence_vectors[rows] @ question_vector
    out[:, 1] = content.chunk_vectors[owners] @ question_vector
    bm25 = bm25_scores[rows]
    top = float(bm25.max()) if len(bm25) else 0.0
    out[:, 2] = bm25 / top if top > 0 else 0.0
    q_set = frozenset(question_tokens)
    q_bigrams = set(zip(question_tokens, question_tokens[1:], strict=False))
    typed = qtype in _TYPED
    term_idf = _term_idf(corpus, question_tokens)
    for i, row in enumerate(rows.tolist()):
        sentence = content.sentences[row]
        tokens = corpus.sentence_token_sets[row]
        out[i, 3] = _coverage(term_idf, tokens)
        out[i, 4] = _coverage(term_idf, window_tokens(corpus, row))
        rank = chunk_rank.get(int(owners[i]))
        out[i, 5] = 1.0 / rank if rank else 0.0
        if typed:
            found = corpus.sentence_mentions(row)
            has = bool(matching_mentions(qtype, sentence.text, question, found))
            out[i, 6] = 1.0 if has else 0.0
            out[i, 7] = 0.0 if has else 1.0
        out[i, 8] = 1.0 if tokens and tokens <= q_set else 0.0
        out[i, 9] = 1.0 if sentence.role == "heading" else 0.0
        out[i, 10] = 1.0 if len(tokens) < 4 else 0.0
        out[i, 11] = 1.0 if qtype == "list" and sentence.role == "lead_in" else 0.0
        if q_bigrams:
            out[i, 12] = len(q_bigrams & corpus.sentence_bigrams[row]) / len(q_bigrams)
    return out
