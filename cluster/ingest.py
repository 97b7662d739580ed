"""Sharded ingest: partition the sources by document id, build each shard as an ordinary index
(``index.pipeline.ingest`` into ``shard-NN/``), then publish the shard set in one step.

Each shard's build is the one-process ingest over that shard's files, so a shard whose files did
not change publishes nothing (its version is reused as it is) and a changed one re-embeds only
its changed documents. How the builds run is the caller's (``BuildShards``): one after another
here, or as Ray tasks (``ray_ingest``). BM25 inside a shard keeps the shard's own statistics;
serving scores with the whole collection's (see ``collection_stats``), so that a shard's files
never depend on the others'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.config import IngestConfig
from index.durable import exclusive_lock
from index.embed import Encoder
from index.source_set import SourceError, absolute
from index.sources import find_sources

from .partition import partition
from .shard_set import (
    ShardEntry,
    ShardSet,
    manifest_sha256,
    publish_shard_set,
    read_shard_set,
    shard_dir_name,
)


class ShardCountChanged(Exception):
    """The index was sharded with another count: every document would move (not supported)."""


@dataclass(frozen=True)
class ShardJob:
    """Build shard ``shard`` in ``index_dir`` from exactly ``files``."""

    shard: int
    index_dir: Path
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ShardBuilt:
    shard: int
    version: str | None  # None: no usable document
    published: bool
    documents: int
    sentences: int
    embedded: tuple[str, ...]
    reused: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (path, reason)
    seconds: float


BuildShards = Callable[[Sequence[ShardJob]], list[ShardBuilt]]


def build_shard(job: ShardJob, encoder: Encoder, config: IngestConfig) -> ShardBuilt:
    """One shard, as the one-process ingest builds an index (imported here: the pipeline pulls
    in the loaders and splitters, which a serving process never needs)."""
    from index.pipeline import ingest

    report = ingest(list(job.files), job.index_dir, encoder, config, mode="replace",
                    progress=False)
    return ShardBuilt(
        shard=job.shard, version=report.version if report.documents else None,
        published=report.published, documents=report.documents, sentences=report.sentences,
        embedded=tuple(report.embedded), reused=tuple(report.reused),
        skipped=tuple((e.path, e.reason) for e in report.skipped), seconds=report.seconds,
    )


def build_in_process(encoder: Encoder, config: IngestConfig) -> BuildShards:
    """Every shard in this process, one after another."""
    def run(jobs: Sequence[ShardJob]) -> list[ShardBuilt]:
        return [build_shard(job, encoder, config) for job in jobs]
    return run


@dataclass
class ShardedReport:
    shard_set: str | None = None  # the live set's file name
    published: bool = False
    built: list[ShardBuilt] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return sum(b.documents for b in self.built)

    @property
    def sentences(self) -> int:
        return sum(b.sentences for b in self.built)

    @property
    def changed_shards(self) -> list[int]:
        return [b.shard for b in self.built if b.published]


def ingest_sharded(
    paths: Sequence[Path], index_dir: Path, shards: int, build: BuildShards, *,
    replace: bool = False, follow_external_symlinks: bool = False,
) -> ShardedReport:
    """Add ``paths`` to the sources the live shard set records (or, with ``replace``, make them
    the only ones), rebuild the shards and publish a new set when any shard changed."""
    started = time.perf_counter()
    report = ShardedReport()
    with exclusive_lock(index_dir):
        previous = read_shard_set(index_dir)
        if previous is not None and len(previous.shards) != shards:
            raise ShardCountChanged(
                f"{index_dir} has {len(previous.shards)} shards, not {shards}: re-shard into a "
                "new index directory")
        recorded = () if previous is None or replace else previous.sources
        sources = tuple(dict.fromkeys([*recorded, *(str(absolute(p)) for p in paths)]))
        if not sources:
            raise SourceError("nothing to ingest: name a file or folder")
        found = find_sources([Path(s) for s in sources],
                             follow_external_symlinks=follow_external_symlinks)
        groups = partition(found, shards)
        jobs = [ShardJob(i, index_dir / shard_dir_name(i), tuple(s.path for s in group))
                for i, group in enumerate(groups) if group]
        report.built = sorted(build(jobs), key=lambda b: b.shard)
        by_shard = {b.shard: b for b in report.built}
        entries = []
        for i in range(shards):
            done = by_shard.get(i)
            name = shard_dir_name(i)
            if done is None or done.version is None:
                entries.append(ShardEntry(name, None, None, 0))
            else:
                sha = manifest_sha256(index_dir / name / done.version)
                entries.append(ShardEntry(name, done.version, sha, done.documents))
        fresh = ShardSet(tuple(entries), sources)
        if previous is not None and (previous.shards, previous.sources) == (
                fresh.shards, fresh.sources):
            report.shard_set = previous.name
        else:
            report.shard_set = publish_shard_set(index_dir, fresh)
            report.published = True
    report.seconds = time.perf_counter() - started
    return report
