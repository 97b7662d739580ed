"""The files of one index version, written into its staging directory a document at a time.

``add`` appends a document's records (JSONL), its units' table rows, token ids and vectors to
files that grow as ingest goes; ``finish`` completes them, builds BM25 from the token ids and
FAISS from the vectors (both read back a block at a time), and returns the checksums the manifest
lists. Memory holds one document, the vocabulary and per-document manifest entries, never the
collection's vectors, tokens or records.

Files of a version (format 3)::

    documents.jsonl, sentences.jsonl, chunks.jsonl    the records, one JSON object a line
    documents.npy, sentences.npy, chunks.npy          tables.DOCUMENT_ROW / SENTENCE_ROW / CHUNK_ROW
    sentence_vectors.npy, chunk_vectors.npy           float32 (rows, dim)
    vocabulary.json                                   token ids -> tokens (a JSON list)
    sentence_tokens.npy, sentence_token_offsets.npy   CSR of token ids, and the same for chunks
    sentence_token_df.npy                             sentences holding each token id
    bm25-sentences/, bm25-chunks/                     bm25s's files (score matrix, params)
    sentences.faiss, chunks.faiss                     only for an approximate FAISS index
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .bm25_build import SENTINEL, write_bm25
from .durable import (
    Steps,
    abandon_stream,
    finish_stream,
    fsync_dir,
    write_file,
    write_file_from,
)
from .heap import release_free_heap
from .manifest import sha256_file
from .npy_stream import NpyAppender, NpyRows
from .records import DocumentRecord, Units
from .tables import (
    CHUNK_ROW,
    DOCUMENT_ROW,
    OFFSET,
    SENTENCE_ROW,
    TOKEN_ID,
    Vocabulary,
    chunk_rows,
    sentence_rows,
)
from .vectors import SearchTuning, VectorIndex, is_exact

DOCUMENTS, SENTENCES, CHUNKS = "documents.jsonl", "sentences.jsonl", "chunks.jsonl"
DOCUMENT_TABLE, SENTENCE_TABLE, CHUNK_TABLE = "documents.npy", "sentences.npy", "chunks.npy"
VOCABULARY = "vocabulary.json"
SENTENCE_DF = "sentence_token_df.npy"
UNIT_KINDS = ("sentence", "chunk")  # each has <kind>_vectors.npy, <kind>_tokens.npy, offsets
FAISS_FILE = {"sentence": "sentences.faiss", "chunk": "chunks.faiss"}
BM25_DIR = {"sentence": "bm25-sentences", "chunk": "bm25-chunks"}


def vectors_file(kind: str) -> str:
    return f"{kind}_vectors.npy"


def tokens_file(kind: str) -> str:
    return f"{kind}_tokens.npy"


def offsets_file(kind: str) -> str:
    return f"{kind}_token_offsets.npy"


class _JsonlAppender:
    """A JSONL file written a record at a time (same failpoint steps as ``NpyAppender``)."""

    def __init__(self, path: Path, root: Path, steps: Steps) -> None:
        self._rel, self._steps = path.relative_to(root).as_posix(), steps
        steps.at(f"write {self._rel}")
        self._fh: BinaryIO = path.open("xb")

    def append(self, rows: list[dict[str, Any]]) -> None:
        self._fh.write("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
                               for row in rows).encode())

    def finish(self) -> None:
        finish_stream(self._fh, self._rel, self._steps)

    def abort(self) -> None:
        abandon_stream(self._fh)


class _TokenWriter:
    """One kind's token ids and offsets (CSR), appended a document at a time."""

    def __init__(self, staging: Path, kind: str, root: Path, steps: Steps) -> None:
        self.ids = NpyAppender(staging / tokens_file(kind), TOKEN_ID, (), root, steps)
        self.offsets = NpyAppender(staging / offsets_file(kind), OFFSET, (), root, steps)
        self.offsets.append(np.zeros(1, dtype=OFFSET))
        self.total = 0
        self.empty = 0

    def append(self, token_lists: list[list[str]], vocabulary: Vocabulary) -> None:
        encoded = [vocabulary.encode(tokens) for tokens in token_lists]
        lengths = np.array([len(ids) for ids in encoded], dtype=OFFSET)
        self.ids.append(np.concatenate(encoded) if encoded else np.zeros(0, TOKEN_ID))
        self.offsets.append(self.total + np.cumsum(lengths))
        self.total += int(lengths.sum())
        self.empty += int((lengths == 0).sum())


class VersionWriter:
    """Appends documents to the files of a version being staged; ``finish`` completes them."""

    def __init__(self, staging: Path, root: Path, dim: int, steps: Steps) -> None:
        self._staging, self._root, self._steps, self.dim = staging, root, steps, dim
        self.vocabulary = Vocabulary()
        self.documents: dict[str, dict[str, str]] = {}  # the manifest's per-document entries
        self.sentences = self.chunks = 0
        self._records = {name: _JsonlAppender(staging / name, root, steps)
                         for name in (DOCUMENTS, SENTENCES, CHUNKS)}
        self._tables = {name: NpyAppender(staging / name, dtype, (), root, steps)
                        for name, dtype in ((DOCUMENT_TABLE, DOCUMENT_ROW),
                                            (SENTENCE_TABLE, SENTENCE_ROW),
                                            (CHUNK_TABLE, CHUNK_ROW))}
        self._vectors = {kind: NpyAppender(staging / vectors_file(kind), np.float32, (dim,),
                                           root, steps) for kind in UNIT_KINDS}
        self._tokens = {kind: _TokenWriter(staging, kind, root, steps) for kind in UNIT_KINDS}

    def add(self, record: DocumentRecord, units: Units) -> None:
        """Append one document (documents must come sorted by id) and its units."""
        row = len(self.documents)
        self._records[DOCUMENTS].append([asdict(record)])
        self._records[SENTENCES].append([asdict(s) for s in units.sentences])
        self._records[CHUNKS].append([asdict(c) for c in units.chunks])
        self._tables[DOCUMENT_TABLE].append(np.array(
            [(self.sentences, len(units.sentences), self.chunks, len(units.chunks))],
            dtype=DOCUMENT_ROW))
        self._tables[SENTENCE_TABLE].append(sentence_rows(units.sentences, row, self.chunks))
        self._tables[CHUNK_TABLE].append(chunk_rows(units.chunks, row, self.sentences))
        self._vectors["sentence"].append(units.sentence_vectors.reshape(-1, self.dim))
        self._vectors["chunk"].append(units.chunk_vectors.reshape(-1, self.dim))
        self._tokens["sentence"].append(list(units.sentence_tokens), self.vocabulary)
        self._tokens["chunk"].append(list(units.chunk_tokens), self.vocabulary)
        self.sentences += len(units.sentences)
        self.chunks += len(units.chunks)
        self.documents[record.doc_id] = {
            "source_path": record.source_path,
            "content_sha256": record.content_sha256,
            "text_sha256": hashlib.sha256(record.text.encode()).hexdigest(),
        }

    def finish(self, faiss_factory: str, k1: float, b: float) -> dict[str, Any]:
        """Complete every file and build the indexes; returns the manifest's file entries:
        ``files`` (sha256 of each), the FAISS search tunings, the exact indexes not stored."""
        release_free_heap()  # what embedding freed, before the indexes are built
        for appender in self._appenders():
            appender.finish()
        for tokens in self._tokens.values():
            tokens.ids.finish()
            tokens.offsets.finish()
        if any(t.empty for t in self._tokens.values()):
            self.vocabulary.id_of(SENTINEL)  # BM25's token for a unit without tokens
        write_file(self._staging / VOCABULARY,
                   json.dumps(self.vocabulary.tokens, ensure_ascii=False).encode(),
                   self._root, self._steps)
        sentinel = self.vocabulary.ids.get(SENTINEL, -1)
        for kind in UNIT_KINDS:
            df = write_bm25(
                self._staging / BM25_DIR[kind], NpyRows(self._staging / tokens_file(kind)),
                np.load(self._staging / offsets_file(kind), allow_pickle=False),
                len(self.vocabulary), sentinel, k1=k1, b=b, root=self._root, steps=self._steps)
            if kind == "sentence":  # the sentinel is no token of the text: it holds nothing
                self._write_npy(SENTENCE_DF, np.where(np.arange(len(df)) == sentinel, 0, df)
                                .astype(np.int64))
        tunings: dict[str, dict[str, Any]] = {}
        derived = []
        for kind in UNIT_KINDS:
            name, count = FAISS_FILE[kind], self.sentences if kind == "sentence" else self.chunks
            if is_exact(faiss_factory, count):
                derived.append(name)  # exact search scans the .npy: nothing more to store
                continue
            release_free_heap()  # what the lexical indexes or the previous kind's build freed
            index = VectorIndex.build(NpyRows(self._staging / vectors_file(kind)), faiss_factory)
            write_file_from(self._staging / name, index.write_to, self._root, self._steps)
            tuning: SearchTuning | None = index.tuning
            if tuning is not None:
                tunings[name] = tuning.to_manifest()
            del index  # the next kind's index is built without this one beside it
        checksums = {path.relative_to(self._staging).as_posix(): sha256_file(path)
                     for path in sorted(self._staging.rglob("*")) if path.is_file()}
        self._steps.at(f"fsync-dir {self._staging.relative_to(self._root).as_posix()}")
        fsync_dir(self._staging)
        return {"files": checksums, "dense_search": tunings, "dense_from_vectors": sorted(derived)}

    def abort(self) -> None:
        """Close whatever is open (the caller removes the staging directory)."""
        for appender in self._appenders():
            appender.abort()
        for tokens in self._tokens.values():
            tokens.ids.abort()
            tokens.offsets.abort()

    def _appenders(self) -> list[_JsonlAppender | NpyAppender]:
        return [*self._records.values(), *self._tables.values(), *self._vectors.values()]

    def _write_npy(self, name: str, array: np.ndarray) -> None:
        appender = NpyAppender(self._staging / name, array.dtype, array.shape[1:], self._root,
                               self._steps)
        appender.append(array)
        appender.finish()
