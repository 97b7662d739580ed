"""Which shard holds a document: a stable hash of its id, so a document never moves between
shards while the shard count stays the same (an incremental ingest then touches only the shards
whose documents changed)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from index.sources import Source


def shard_of(doc_id: str, shards: int) -> int:
    """The shard of ``doc_id`` among ``shards`` (the first 8 bytes of its sha256, mod count):
    the same on every machine and Python process, unlike ``hash()``."""
    if shards < 1:
        raise ValueError("need at least one shard")
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def doc_id_of(source: Source) -> str:
    """The id ingest gives the document of a file (its name without extension)."""
    return source.path.stem


def partition(sources: Sequence[Source], shards: int) -> list[list[Source]]:
    """The sources of each shard, in their given order."""
    out: list[list[Source]] = [[] for _ in range(shards)]
    for source in sources:
        out[shard_of(doc_id_of(source), shards)].append(source)
    return out
