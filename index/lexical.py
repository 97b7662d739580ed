"""Word-level text processing shared by BM25 and sentence scoring, and the BM25 wrapper (bm25s).

Tokens are lower-cased words with English stop words removed and Snowball-stemmed; numbers keep
their digits with thousands separators removed ("40,000" -> "40000", "2.4" stays "2.4") so that
amounts match however they are written.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

TOKENIZER_VERSION = "words-stem-en-1"
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?[a-z]*|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN) | {"s"}


_PER_THREAD = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe, and the service answers on several threads: one
    # stemmer per thread (a cache, not state: every one stems alike).
    stemmer = getattr(_PER_THREAD, "stemmer", None)
    if stemmer is None:
        stemmer = _PER_THREAD.stemmer = Stemmer.Stemmer("english")
    return stemmer


def words(text: str) -> list[str]:
    """Lower-cased surface words and numbers, stop words kept."""
    out = []
    for match in _TOKEN.finditer(text.lower()):
        token = match.group().replace("’", "'")
        if token[0].isdigit():
            token = token.replace(",", "").rstrip(".")
        out.append(token)
    return out


def tokenize(text: str) -> list[str]:
    """Index tokens: words without stop words, stemmed."""
    kept = [w for w in words(text) if w not in _STOPWORDS]
    return list(_stemmer().stemWords(kept))


class LexicalIndex:
    """BM25 over a list of units (chunks or sentences), scored in full for a query."""

    def __init__(self, model: bm25s.BM25) -> None:
        self._model = model

    @classmethod
    def build(
        cls, token_lists: list[list[str]], *, k1: float = 1.2, b: float = 0.75
    ) -> LexicalIndex:
        model = bm25s.BM25(k1=k1, b=b)
        # An empty unit would make bm25s drop it and shift every id after it: give it a sentinel.
        model.index([tokens or ["\x00"] for tokens in token_lists], show_progress=False)
        return cls(model)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(directory), load_corpus=False, allow_pickle=False))

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), allow_pickle=False, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every unit for the query (zeros when no query token is known)."""
        ids = self._model.get_tokens_ids(query_tokens)
        if not ids:
            return np.zeros(int(self._model.scores["num_docs"]), dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)
