"""Lookups over a loaded index version, from the arrays ingest wrote (nothing rebuilt per sentence).

Rows are positions in the snapshot's sentence and chunk tables (documents sorted by id, units by
ordinal), so a document's sentences are contiguous and a chunk's sentences are a row range. Per
sentence, the token set, bigrams and IDF are derived on demand from the memory-mapped token ids
and document frequencies, so start-up and memory do not grow with a Python object per sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar, overload

import numpy as np

from index.records import ROLES, DocumentRecord
from index.store import IndexSnapshot
from index.titles import name_title

from .language.en import Mention, mentions

CONTEXT_TITLE_WORDS = 12
_HEADING = ROLES.index("heading")
_NEWLINE = re.compile("\n")
NEWLINE_DOCUMENTS = 256  # documents whose line breaks are kept at once
MENTION_ROWS = 200_000  # sentences whose typed mentions are kept at once
T = TypeVar("T")


class _PerRow(Sequence[T]):
    """A value per sentence made from its tokens when asked for (not kept)."""

    def __init__(self, tokens: Sequence[list[str]], make: Callable[[list[str]], T]) -> None:
        self._tokens, self._make = tokens, make

    def __len__(self) -> int:
        return len(self._tokens)

    @overload
    def __getitem__(self, row: int) -> T: ...
    @overload
    def __getitem__(self, row: slice) -> list[T]: ...
    def __getitem__(self, row: int | slice) -> T | list[T]:
        if isinstance(row, slice):
            return [self._make(tokens) for tokens in self._tokens[row]]
        return self._make(self._tokens[row])


def _bigrams(tokens: list[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(tokens, tokens[1:], strict=False))


class _Idf(Mapping[str, float]):
    """IDF of every token some sentence holds, from the document frequencies stored at ingest;
    a token no sentence holds is not in it."""

    def __init__(self, ids: dict[str, int], tokens: Sequence[str], df: np.ndarray,
                 sentences: int) -> None:
        self._ids, self._tokens, self._df = ids, tokens, df
        self._n = max(sentences, 1)

    def _frequency(self, token: str) -> int:
        found = self._ids.get(token)
        return 0 if found is None else int(self._df[found])

    def __getitem__(self, token: str) -> float:
        f = self._frequency(token)
        if not f:
            raise KeyError(token)
        return math.log(1.0 + (self._n - f + 0.5) / (f + 0.5))

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._frequency(token) > 0

    def __iter__(self) -> Iterator[str]:
        return (self._tokens[i] for i in np.flatnonzero(self._df).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self._df))


class CollectionIdf(Mapping[str, float]):
    """``_Idf`` from collection-wide counts of a few tokens (a question's): what a shard of a
    sharded index scores with, since its own counts cover only its documents."""

    def __init__(self, df: Mapping[str, int], sentences: int) -> None:
        self._df = {t: f for t, f in df.items() if f > 0}
        self._n = max(sentences, 1)

    def __getitem__(self, token: str) -> float:
        f = self._df[token]
        return math.log(1.0 + (self._n - f + 0.5) / (f + 0.5))

    def __iter__(self) -> Iterator[str]:
        return iter(self._df)

    def __len__(self) -> int:
        return len(self._df)


def nearest_heading_rows(is_heading: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """For each row, the last heading row at or before it in the same document, else -1."""
    rows = np.arange(len(is_heading), dtype=np.int64)
    last = np.maximum.accumulate(np.where(is_heading, rows, -1)) if len(rows) else rows
    found = np.maximum(last, 0)
    return np.where((last >= 0) & (doc[found] == doc), last, -1)


def idf_or_unseen(idf: Mapping[str, float], sentences: int, token: str) -> float:
    """``idf[token]``, or for a token no sentence holds, the IDF of the rarest possible one (an
    unseen token is as rare as a token can be)."""
    return idf.get(token, math.log(1.0 + (sentences + 0.5) / 0.5))


@dataclass(frozen=True)
class Corpus:
    snapshot: IndexSnapshot
    documents: dict[str, DocumentRecord]
    sentence_base: dict[str, int]  # doc_id -> row of its first sentence
    chunk_first_row: np.ndarray  # chunk row -> first sentence row
    chunk_last_row: np.ndarray  # chunk row -> one past its last sentence row
    owner_chunk: np.ndarray  # sentence row -> owning chunk row
    sentence_doc: np.ndarray  # sentence row -> document row
    sentence_token_sets: Sequence[frozenset[str]]
    sentence_bigrams: Sequence[frozenset[tuple[str, str]]]
    idf: Mapping[str, float]
    answerable: np.ndarray  # sentence row -> may it be an answer (a question or heading never)
    heading_above: np.ndarray  # sentence row -> nearest heading row at or above it in its
    # document, -1 where none (found once here: citing walked back row by row per quote)
    collection_sentences: int  # the N of every IDF (a sharded index's total, not the shard's)
    # Typed mentions per sentence row, found on first use: the regexes are the costliest part of
    # scoring a candidate, and popular sentences are candidates for many questions.
    _mentions: dict[int, list[Mention]] = field(default_factory=dict, repr=False, compare=False)
    # Per document, read on first use: the title the answer model reads, and where its lines
    # break (a citation's line number; a few recent documents only).
    _titles: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _newlines: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_snapshot(cls, snapshot: IndexSnapshot) -> Corpus:
        arrays, content = snapshot.arrays, snapshot.content
        sentences, chunks = arrays.sentences, arrays.chunks
        first = arrays.documents["first_sentence"].tolist()
        tokens = content.sentence_tokens
        return cls(
            snapshot=snapshot,
            documents={d.doc_id: d for d in content.documents},
            sentence_base={d.doc_id: row for d, row in zip(content.documents, first,
                                                           strict=True)},
            chunk_first_row=chunks["first"],
            chunk_last_row=chunks["last"],
            owner_chunk=sentences["chunk"],
            sentence_doc=sentences["doc"],
            # A set of the stored list, as ever: the same iteration order, so sums over it match.
            sentence_token_sets=_PerRow(tokens, frozenset),
            sentence_bigrams=_PerRow(tokens, _bigrams),
            idf=_Idf(arrays.vocabulary.ids, arrays.vocabulary.tokens, arrays.sentence_token_df,
                     len(tokens)),
            answerable=(sentences["role"] != _HEADING) & ~sentences["question"],
            heading_above=nearest_heading_rows(sentences["role"] == _HEADING, sentences["doc"]),
            collection_sentences=len(tokens),
        )

    def with_collection_idf(self, df: Mapping[str, int], sentences: int) -> Corpus:
        """This corpus with IDFs from collection-wide counts (``df`` must hold every token that
        will be asked for: a question's); the per-sentence caches are shared."""
        return replace(self, idf=CollectionIdf(df, sentences), collection_sentences=sentences)

    def sentence_mentions(self, row: int) -> list[Mention]:
        found = self._mentions.get(row)
        if found is None:
            if len(self._mentions) >= MENTION_ROWS:
                self._mentions.clear()  # a long-running replica would otherwise hold every row's
            found = self._mentions[row] = mentions(self.sentence_text(row))
        return found

    def same_document(self, row: int, other: int) -> bool:
        """Is ``other`` a sentence row of the same document as ``row``?"""
        doc = self.sentence_doc
        return 0 <= other < len(doc) and bool(doc[other] == doc[row])

    def neighbours(self, row: int) -> list[int]:
        """The sentences just before and after ``row`` in its document."""
        return [nb for nb in (row - 1, row + 1) if self.same_document(row, nb)]

    def document_of(self, row: int) -> DocumentRecord:
        """The document of sentence ``row``."""
        return self.snapshot.content.documents[int(self.sentence_doc[row])]

    def sentence_text(self, row: int) -> str:
        # From the table's offsets, without building the sentence's record.
        table = self.snapshot.arrays.sentences
        return self.document_of(row).text[int(table["start"][row]) : int(table["end"][row])]

    def role_of(self, row: int) -> str:
        return ROLES[int(self.snapshot.arrays.sentences["role"][row])]

    def line_of(self, doc_id: str, offset: int) -> int:
        """The 1-based line of ``offset`` in the document's text."""
        breaks = self._newlines.get(doc_id)
        if breaks is None:
            if len(self._newlines) >= NEWLINE_DOCUMENTS:
                self._newlines.clear()
            text = self.documents[doc_id].text
            breaks = self._newlines[doc_id] = np.array(
                [m.start() for m in _NEWLINE.finditer(text)], dtype=np.int64)
        return int(np.searchsorted(breaks, offset)) + 1

    def context_of(self, row: int) -> str:
        """What a reader needs beside a sentence to read it: the document title and the
        sentence before it (the answer model sees this next to every candidate)."""
        doc_id = self.document_of(row).doc_id
        title = self._titles.get(doc_id)
        if title is None:
            # A title longer than a heading is usually a clipped first sentence: keep its start.
            title = self._titles[doc_id] = " ".join(
                self._context_title(doc_id).split()[:CONTEXT_TITLE_WORDS])
        previous = self.sentence_text(row - 1) if self.same_document(row, row - 1) else ""
        return f"{title}. {previous}".strip() if title else previous

    def _context_title(self, doc_id: str) -> str:
        """The document's title, or its opening sentence when the title is only its file name
        in words: a name says little about the content, and the answer model learnt to read
        titles that are real titles or openings."""
        title = self.documents[doc_id].title
        if title != name_title(doc_id.rsplit("/", 1)[-1]):
            return title
        first = self.sentence_base.get(doc_id)
        sentences = self.snapshot.content.sentences
        return sentences[first].text if first is not None and first < len(sentences) else title

    def idf_of(self, token: str) -> float:
        return idf_or_unseen(self.idf, self.collection_sentences, token)

    def sentence_row(self, doc_id: str, ordinal: int) -> int:
        return self.sentence_base[doc_id] + ordinal
