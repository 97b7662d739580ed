"""Word-level text processing shared by BM25 and sentence scoring, and the BM25 wrapper (bm25s).

Tokens are lower-cased words with English stop words removed and Snowball-stemmed; numbers keep
their digits with thousands separators removed ("40,000" -> "40000", "2.4" stays "2.4") so that
amounts match however they are written. A word hyphenated across a line break ("configu-\nration",
as PDFs and hard-wrapped text print it) is one word: the document text keeps the hyphen and the
break (offsets stay exact), only the models' view of it is joined (``join_line_hyphens``). A
compound split at its own hyphen ("well-\nknown") becomes "wellknown": without a dictionary the two
cannot be told apart, and the hyphenated word is the common case in print.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

TOKENIZER_VERSION = "words-stem-en-2"
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?[a-z]*|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN) | {"s"}
# letter + "-" + line break (+ indentation) + a lower-case letter: the same line breaks as
# segment.iter_lines.
_LINE_HYPHEN = re.compile(
    r"(?<=[^\W\d_])-[ \t]*(?:\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])[ \t]*(?=[^\W\d_])"
)


_PER_THREAD = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe, and the service answers on several threads: one
    # stemmer per thread (a cache, not state: every one stems alike).
    stemmer = getattr(_PER_THREAD, "stemmer", None)
    if stemmer is None:
        stemmer = _PER_THREAD.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _join_if_lower(match: re.Match[str]) -> str:
    following = match.string[match.end()]
    return "" if following.islower() else match.group()


def join_line_hyphens(text: str) -> str:
    """``text`` with words hyphenated across a line break joined ("configu-\nration")."""
    return _LINE_HYPHEN.sub(_join_if_lower, text) if "-" in text else text


def words(text: str) -> list[str]:
    """Lower-cased surface words and numbers, stop words kept."""
    out = []
    for match in _TOKEN.finditer(join_line_hyphens(text).lower()):
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
    def load(cls, directory: Path, vocabulary: dict[str, int] | None = None) -> LexicalIndex:
        """Open a saved index; with ``vocabulary`` (token -> id, the version's shared one), its
        arrays are memory-mapped and its own vocabulary file is not read."""
        if vocabulary is None:
            return cls(bm25s.BM25.load(str(directory), load_corpus=False, allow_pickle=False))
        model = bm25s.BM25.load(str(directory), load_corpus=False, allow_pickle=False,
                                load_vocab=False, mmap=True)
        model.vocab_dict = vocabulary
        return cls(model)

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), allow_pickle=False, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every unit for the query (zeros when no query token is known)."""
        ids = self._model.get_tokens_ids(query_tokens)
        if not ids:
            return np.zeros(int(self._model.scores["num_docs"]), dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)
