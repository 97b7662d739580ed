"""Collection-wide statistics of a sharded index: what no one shard knows and every score needs
(BM25's document frequencies and average lengths, the features' IDFs).

Each shard describes itself once (``ShardStats``); the coordinator merges them
(``CollectionStats``) and sends each question only the numbers of its own tokens
(``QueryStats``), so a shard's memory does not grow with the others' vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("sentence", "chunk")


@dataclass(frozen=True)
class ShardStats:
    """One shard's counts: units, their total BM25 length, and each token's document
    frequency per kind (``tokens[i]`` has ``df[kind][i]``)."""

    tokens: tuple[str, ...]
    df: dict[str, np.ndarray]  # kind -> int64 per token
    units: dict[str, int]
    length_sum: dict[str, int]


@dataclass(frozen=True)
class QueryStats:
    """The collection's numbers for one question's tokens."""

    df: dict[str, dict[str, int]]  # kind -> token -> units holding it (absent: none)
    units: dict[str, int]
    length_sum: dict[str, int]

    def average(self, kind: str) -> float:
        """Mean unit length (bm25s: the int64 lengths' mean, exact for any realistic total)."""
        return self.length_sum[kind] / self.units[kind] if self.units[kind] else 0.0


class CollectionStats:
    """The sum of every shard's counts (one dict entry per distinct token)."""

    def __init__(self, shards: Sequence[ShardStats]) -> None:
        self._df: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        for shard in shards:
            for kind in KINDS:
                table = self._df[kind]
                for token, count in zip(shard.tokens, shard.df[kind].tolist(), strict=True):
                    if count:
                        table[token] = table.get(token, 0) + count
        self.units = {kind: sum(s.units[kind] for s in shards) for kind in KINDS}
        self.length_sum = {kind: sum(s.length_sum[kind] for s in shards) for kind in KINDS}

    def for_query(self, tokens: Sequence[str]) -> QueryStats:
        wanted = set(tokens)
        return QueryStats(
            df={kind: {t: self._df[kind][t] for t in wanted if t in self._df[kind]}
                for kind in KINDS},
            units=dict(self.units), length_sum=dict(self.length_sum),
        )
