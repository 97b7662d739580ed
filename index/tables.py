"""A version's records as arrays: what is fixed about every sentence, chunk and document, written
at ingest and memory-mapped when served, read back as records only for the rows asked for.

Rows are global: documents sorted by id, each document's units by ordinal, so a document's
sentences (and chunks) are one contiguous row range. Offsets are code points into the document's
text, as in the records. Token lists are stored as ids into one vocabulary shared by sentences,
chunks and both BM25 indexes (CSR: ``ids[offsets[i]:offsets[i + 1]]`` are unit i's tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, overload

import numpy as np

from .records import ROLES, Chunk, DocumentRecord, Sentence, is_question

SENTENCE_ROW = np.dtype([
    ("start", "<i8"), ("end", "<i8"),
    ("doc", "<i8"),  # document row
    ("chunk", "<i8"),  # row of the chunk that owns the sentence (the first that holds it)
    ("role", "u1"),  # index into records.ROLES
    ("question", "?"),  # records.is_question(text)
])
CHUNK_ROW = np.dtype([
    ("start", "<i8"), ("end", "<i8"), ("doc", "<i8"),
    ("first", "<i8"), ("last", "<i8"),  # sentence rows, half-open
])
DOCUMENT_ROW = np.dtype([
    ("first_sentence", "<i8"), ("sentences", "<i8"), ("first_chunk", "<i8"), ("chunks", "<i8"),
])
TOKEN_ID = np.dtype("<i4")
OFFSET = np.dtype("<i8")
_ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
T = TypeVar("T")


def sentence_rows(sentences: Sequence[Sentence], doc_row: int, first_chunk: int) -> np.ndarray:
    """One document's sentences as table rows (its first chunk at row ``first_chunk``)."""
    return np.array([
        (s.start, s.end, doc_row, first_chunk + s.chunk_ordinal, _ROLE_CODE[s.role],
         is_question(s.text))
        for s in sentences
    ], dtype=SENTENCE_ROW).reshape(-1)


def chunk_rows(chunks: Sequence[Chunk], doc_row: int, first_sentence: int) -> np.ndarray:
    """One document's chunks as table rows (its first sentence at row ``first_sentence``)."""
    return np.array([
        (c.start, c.end, doc_row, first_sentence + c.first_sentence,
         first_sentence + c.last_sentence)
        for c in chunks
    ], dtype=CHUNK_ROW).reshape(-1)


class _Rows(Sequence[T]):
    """A read-only sequence whose items are built on demand from arrays."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _item(self, row: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        row = int(index)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(index)
        return self._item(row)


class SentenceTable(_Rows[Sentence]):
    """``Sequence[Sentence]`` over the sentence table and the documents' texts."""

    def __init__(self, rows: np.ndarray, documents: Sequence[DocumentRecord],
                 document_rows: np.ndarray) -> None:
        self._start, self._end = rows["start"], rows["end"]
        self._doc, self._chunk, self._role = rows["doc"], rows["chunk"], rows["role"]
        self._documents = documents
        self._first = document_rows["first_sentence"]
        self._first_chunk = document_rows["first_chunk"]

    def __len__(self) -> int:
        return len(self._start)

    def _item(self, row: int) -> Sentence:
        d = int(self._doc[row])
        doc = self._documents[d]
        start, end = int(self._start[row]), int(self._end[row])
        ordinal = row - int(self._first[d])
        return Sentence(
            id=f"{doc.doc_id}:s{ordinal}", doc_id=doc.doc_id, ordinal=ordinal, start=start,
            end=end, text=doc.text[start:end], role=ROLES[int(self._role[row])],
            chunk_ordinal=int(self._chunk[row]) - int(self._first_chunk[d]),
        )


class ChunkTable(_Rows[Chunk]):
    """``Sequence[Chunk]`` over the chunk table and the documents' texts."""

    def __init__(self, rows: np.ndarray, documents: Sequence[DocumentRecord],
                 document_rows: np.ndarray) -> None:
        self._start, self._end, self._doc = rows["start"], rows["end"], rows["doc"]
        self._first_row, self._last_row = rows["first"], rows["last"]
        self._documents = documents
        self._first = document_rows["first_chunk"]
        self._first_sentence = document_rows["first_sentence"]

    def __len__(self) -> int:
        return len(self._start)

    def _item(self, row: int) -> Chunk:
        d = int(self._doc[row])
        doc = self._documents[d]
        start, end = int(self._start[row]), int(self._end[row])
        ordinal = row - int(self._first[d])
        base = int(self._first_sentence[d])
        return Chunk(
            id=f"{doc.doc_id}:c{ordinal}", doc_id=doc.doc_id, ordinal=ordinal, start=start,
            end=end, text=doc.text[start:end], first_sentence=int(self._first_row[row]) - base,
            last_sentence=int(self._last_row[row]) - base,
        )


class TokenLists(_Rows[list[str]]):
    """``Sequence[list[str]]`` over a CSR of token ids and the vocabulary."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, vocabulary: Sequence[str]) -> None:
        self._ids, self._offsets, self._vocabulary = ids, offsets, vocabulary

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _item(self, row: int) -> list[str]:
        ids = self._ids[int(self._offsets[row]) : int(self._offsets[row + 1])]
        return list(map(self._vocabulary.__getitem__, ids.tolist()))


class Vocabulary:
    """Token <-> id, ids given in order of first appearance (so a build is reproducible)."""

    def __init__(self, tokens: Sequence[str] = ()) -> None:
        self.tokens: list[str] = list(tokens)
        self.ids: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise ValueError("vocabulary repeats a token")

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, token: str) -> int:
        found = self.ids.get(token)
        if found is None:
            found = self.ids[token] = len(self.tokens)
            self.tokens.append(token)
        return found

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """The ids of ``tokens``, adding the new ones."""
        ids, add = self.ids, self.id_of
        return np.fromiter((ids[t] if t in ids else add(t) for t in tokens), dtype=TOKEN_ID,
                           count=len(tokens))
