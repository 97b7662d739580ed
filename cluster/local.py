"""A sharded index answered in one process: every shard loaded here, the coordinator calling
them directly. What the cluster serves, without Ray (and what the tests compare with one
index)."""

from __future__ import annotations

from pathlib import Path

from index.embed import Encoder
from index.store import IndexNotFound
from retriever.answer_model import Reader
from retriever.engine import EngineParams
from retriever.weights import ScoringModel

from .calls import LocalShards
from .engine import ShardedEngine
from .shard import ShardSearcher
from .shard_set import read_shard_set


def open_local(index_dir: Path, encoder: Encoder, model: ScoringModel | None = None,
               params: EngineParams | None = None, reader: Reader | None = None, *,
               speculate: bool = False) -> ShardedEngine:
    """The live shard set of ``index_dir``, each non-empty shard loaded and verified."""
    shard_set = read_shard_set(index_dir)
    if shard_set is None:
        raise IndexNotFound(f"no sharded index at {index_dir}: run `citeqa ingest --cluster`")
    searchers: list[ShardSearcher] = []
    try:
        for entry in shard_set.shards:
            if entry.version is not None:
                searchers.append(ShardSearcher.open(index_dir, entry))
    except BaseException:
        for searcher in searchers:
            searcher.close()
        raise
    return ShardedEngine(LocalShards(searchers), encoder, model or ScoringModel.load(), params,
                         reader, version=shard_set.name.removesuffix(".json"),
                         speculate=speculate)
