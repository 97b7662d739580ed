"""Reading a verified version's files: memory-mapped arrays for serving, and each document's
units one at a time for an ingest that reuses them.

Only call these on a directory whose checksums were verified (``layout.verify_manifest_and_files``):
the arrays are memory-mapped, so their bytes are read when used, from files that nothing writes
after publishing. A shape or dtype that does not fit the records raises ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .npy_stream import NpyRows
from .records import DocumentRecord, DocUnits
from .tables import (
    CHUNK_ROW,
    DOCUMENT_ROW,
    OFFSET,
    SENTENCE_ROW,
    TOKEN_ID,
    ChunkTable,
    SentenceTable,
    TokenLists,
    Vocabulary,
)
from .version_writer import (
    CHUNK_TABLE,
    DOCUMENT_TABLE,
    DOCUMENTS,
    SENTENCE_DF,
    SENTENCE_TABLE,
    VOCABULARY,
    offsets_file,
    tokens_file,
    vectors_file,
)


@dataclass(frozen=True)
class VersionArrays:
    """A version's per-unit arrays (memory-mapped) and its vocabulary."""

    documents: np.ndarray  # tables.DOCUMENT_ROW per document row
    sentences: np.ndarray  # tables.SENTENCE_ROW per sentence row
    chunks: np.ndarray  # tables.CHUNK_ROW per chunk row
    vocabulary: Vocabulary
    sentence_token_ids: np.ndarray
    sentence_token_offsets: np.ndarray  # (sentences + 1,)
    chunk_token_ids: np.ndarray
    chunk_token_offsets: np.ndarray
    sentence_token_df: np.ndarray  # (vocabulary,) sentences holding each token id
    sentence_vectors: np.ndarray  # (sentences, dim) float32
    chunk_vectors: np.ndarray


def _array(path: Path, dtype: np.dtype, rows: int | None, ndim: int = 1) -> np.ndarray:
    """The file memory-mapped, as a plain ndarray view of the map: np.memmap's own indexing
    runs Python code on every access, and rows are read one at a time when answering."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.dtype != dtype or array.ndim != ndim or (rows is not None and len(array) != rows):
        raise ValueError(f"{path.name}: unexpected shape {array.shape} / dtype {array.dtype}")
    return np.asarray(array)


def read_documents(vdir: Path) -> list[DocumentRecord]:
    with (vdir / DOCUMENTS).open(encoding="utf-8") as fh:
        return [DocumentRecord(**json.loads(line)) for line in fh if line.strip()]


def open_arrays(vdir: Path, counts: dict[str, Any]) -> VersionArrays:
    """Map a version's arrays, checking each against the record ``counts`` of its manifest."""
    docs, sentences, chunks = counts["documents"], counts["sentences"], counts["chunks"]
    with (vdir / VOCABULARY).open(encoding="utf-8") as fh:
        vocabulary = Vocabulary(json.load(fh))
    arrays = VersionArrays(
        documents=_array(vdir / DOCUMENT_TABLE, DOCUMENT_ROW, docs),
        sentences=_array(vdir / SENTENCE_TABLE, SENTENCE_ROW, sentences),
        chunks=_array(vdir / CHUNK_TABLE, CHUNK_ROW, chunks),
        vocabulary=vocabulary,
        sentence_token_ids=_array(vdir / tokens_file("sentence"), TOKEN_ID, None),
        sentence_token_offsets=_array(vdir / offsets_file("sentence"), OFFSET, sentences + 1),
        chunk_token_ids=_array(vdir / tokens_file("chunk"), TOKEN_ID, None),
        chunk_token_offsets=_array(vdir / offsets_file("chunk"), OFFSET, chunks + 1),
        sentence_token_df=_array(vdir / SENTENCE_DF, np.dtype(np.int64), len(vocabulary)),
        sentence_vectors=_array(vdir / vectors_file("sentence"), np.dtype(np.float32), sentences,
                                2),
        chunk_vectors=_array(vdir / vectors_file("chunk"), np.dtype(np.float32), chunks, 2),
    )
    for kind, ids, offsets in (("sentence", arrays.sentence_token_ids,
                                arrays.sentence_token_offsets),
                               ("chunk", arrays.chunk_token_ids, arrays.chunk_token_offsets)):
        if len(offsets) and (offsets[0] != 0 or offsets[-1] != len(ids)):
            raise ValueError(f"{offsets_file(kind)} does not span {tokens_file(kind)}")
    if arrays.sentence_vectors.shape[1:] != arrays.chunk_vectors.shape[1:]:
        raise ValueError("sentence and chunk vectors differ in dimension")
    return arrays


def sentence_table(arrays: VersionArrays, documents: list[DocumentRecord]) -> SentenceTable:
    return SentenceTable(arrays.sentences, documents, arrays.documents)


def chunk_table(arrays: VersionArrays, documents: list[DocumentRecord]) -> ChunkTable:
    return ChunkTable(arrays.chunks, documents, arrays.documents)


def token_lists(arrays: VersionArrays, kind: str) -> TokenLists:
    ids, offsets = ((arrays.sentence_token_ids, arrays.sentence_token_offsets)
                    if kind == "sentence" else
                    (arrays.chunk_token_ids, arrays.chunk_token_offsets))
    return TokenLists(ids, offsets, arrays.vocabulary.tokens)


class PreviousUnits:
    """The documents of a verified version as ``DocUnits``, asked for in ascending id order and
    read one at a time (records, vectors and tokens of that document only)."""

    def __init__(self, vdir: Path, counts: dict[str, Any]) -> None:
        self._arrays = open_arrays(vdir, counts)
        self._vectors = {kind: NpyRows(vdir / vectors_file(kind)) for kind in ("sentence",
                                                                             "chunk")}
        self._token_ids = {kind: NpyRows(vdir / tokens_file(kind)) for kind in ("sentence",
                                                                              "chunk")}
        self._lines = (vdir / DOCUMENTS).open(encoding="utf-8")
        self._documents: Iterator[tuple[int, DocumentRecord]] = self._read()
        self._at: tuple[int, DocumentRecord] | None = next(self._documents, None)

    def _read(self) -> Iterator[tuple[int, DocumentRecord]]:
        for row, line in enumerate(self._lines):
            yield row, DocumentRecord(**json.loads(line))

    def get(self, doc_id: str) -> DocUnits | None:
        """The units of ``doc_id``; ids must be asked for in ascending order."""
        while self._at is not None and self._at[1].doc_id < doc_id:
            self._at = next(self._documents, None)
        if self._at is None or self._at[1].doc_id != doc_id:
            return None
        row, record = self._at
        return self._units(row, record)

    def _units(self, row: int, record: DocumentRecord) -> DocUnits:
        arrays = self._arrays
        entry = arrays.documents[row]
        s0, c0 = int(entry["first_sentence"]), int(entry["first_chunk"])
        s1, c1 = s0 + int(entry["sentences"]), c0 + int(entry["chunks"])
        one = [record]
        here = np.array([(0, s1 - s0, 0, c1 - c0)], dtype=DOCUMENT_ROW)
        sentence_rows = np.array(arrays.sentences[s0:s1])
        sentence_rows["doc"], sentence_rows["chunk"] = 0, sentence_rows["chunk"] - c0
        chunk_rows = np.array(arrays.chunks[c0:c1])
        chunk_rows["doc"] = 0
        chunk_rows["first"], chunk_rows["last"] = chunk_rows["first"] - s0, chunk_rows["last"] - s0
        return DocUnits(
            record=record,
            sentences=SentenceTable(sentence_rows, one, here)[:],
            chunks=ChunkTable(chunk_rows, one, here)[:],
            sentence_vectors=self._vectors["sentence"].read(s0, s1),
            chunk_vectors=self._vectors["chunk"].read(c0, c1),
            sentence_tokens=self._tokens("sentence", arrays.sentence_token_offsets, s0, s1),
            chunk_tokens=self._tokens("chunk", arrays.chunk_token_offsets, c0, c1),
        )

    def _tokens(self, kind: str, offsets: np.ndarray, first: int, last: int) -> list[list[str]]:
        bounds = np.asarray(offsets[first : last + 1])
        ids = self._token_ids[kind].read(int(bounds[0]), int(bounds[-1]))
        vocabulary = self._arrays.vocabulary.tokens
        return [[vocabulary[i] for i in ids[a - bounds[0] : b - bounds[0]].tolist()]
                for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]

    def close(self) -> None:
        """Close the records file and drop the memory maps now, not when a reference cycle (an
        exception's traceback holding this object) is collected: a mapped file keeps its file
        system busy."""
        self._lines.close()
        del self._arrays
