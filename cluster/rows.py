"""The collection's row numbers over a sharded index: where each shard's rows fall in the table
one index of the same documents would have.

One index orders its rows by document id, then by position in the document; every ranking
breaks its ties by row. A shard holds some of the documents, in the same order, so mapping a
shard's rows to the collection's (and back) is a shift per document, and the coordinator can
merge shard rankings and break ties exactly as one index does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .protocol import ShardSummary

KINDS = ("sentence", "chunk")


@dataclass(frozen=True)
class _Table:
    """One kind of unit: per collection document (sorted by id), its first row, shard and
    first row within that shard."""

    first: np.ndarray  # collection row of each document's first unit
    shard: np.ndarray
    local_first: np.ndarray
    shard_docs: tuple[np.ndarray, ...]  # per shard: collection document index of its documents


class RowSpace:
    def __init__(self, shards: Sequence[ShardSummary]) -> None:
        docs = sorted((doc_id, s, i) for s, summary in enumerate(shards)
                      for i, doc_id in enumerate(summary.doc_ids))
        if len({d for d, _, _ in docs}) != len(docs):
            raise ValueError("a document id is in two shards")
        self.doc_ids = tuple(d for d, _, _ in docs)
        self._tables = {kind: self._table(shards, docs, kind) for kind in KINDS}

    @staticmethod
    def _table(shards: Sequence[ShardSummary], docs: list[tuple[str, int, int]],
               kind: str) -> _Table:
        counts = [s.doc_sentences if kind == "sentence" else s.doc_chunks for s in shards]
        local_first = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64)
                       if len(c) else np.zeros(0, np.int64) for c in counts]
        sizes = np.array([counts[s][i] for _, s, i in docs], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        shard = np.array([s for _, s, _ in docs], dtype=np.int64)
        local = np.array([local_first[s][i] for _, s, i in docs], dtype=np.int64)
        shard_docs = tuple(np.zeros(len(s.doc_ids), dtype=np.int64) for s in shards)
        for g, (_, s, i) in enumerate(docs):
            shard_docs[s][i] = g
        return _Table(first, shard, local, shard_docs)

    def to_collection(self, kind: str, shard: int, rows: np.ndarray) -> np.ndarray:
        """The collection rows of ``shard``'s ``rows``."""
        table = self._tables[kind]
        docs = table.shard_docs[shard]
        firsts = table.local_first[docs]
        doc = np.searchsorted(firsts, rows, side="right") - 1
        return np.asarray(rows, dtype=np.int64) - firsts[doc] + table.first[docs[doc]]

    def to_shard(self, kind: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, shard row) of each collection row."""
        table = self._tables[kind]
        doc = np.searchsorted(table.first, rows, side="right") - 1
        return table.shard[doc], np.asarray(rows, dtype=np.int64) - table.first[doc] + \
            table.local_first[doc]
