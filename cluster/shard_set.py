"""The top level of a sharded index: which version of each shard is live, published atomically.

``<index_dir>``::

    SHARDS                        "<set name> <sha256 of that file>\\n" (replaced atomically)
    s000003-1a2b3c.json           one shard set: every shard's version and manifest sha256
    shard-00/, shard-01/, ...     ordinary index directories (their own CURRENT, versions, GC)
    .lock                         single-writer lock for a sharded ingest

A shard's own ``CURRENT`` moves as soon as that shard is rebuilt, so readers never follow it:
they read ``SHARDS`` and load each shard at the version the set names, checked against the
manifest checksum the set records. Replacing ``SHARDS`` is therefore the one commit point of a
sharded ingest: a reader sees every new shard or none. Shard versions a set still names are
kept by each shard's garbage collection (it keeps the current version and the one before it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from index.durable import Steps, fsync_dir, replace_pointer, write_file
from index.manifest import MANIFEST_NAME, IndexCorrupt

SHARDS = "SHARDS"
SET_NAME = re.compile(r"^s(\d{6})-[0-9a-f]{6}\.json$")
SET_FORMAT = 1
PARTITION = "sha256(doc_id)[:8] big-endian mod shards"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Shard set files kept: the live one and those before it, which a reader that read SHARDS
# a moment ago may still be opening.
KEEP_SETS = 3


def shard_dir_name(shard: int) -> str:
    return f"shard-{shard:02d}"


@dataclass(frozen=True)
class ShardEntry:
    """One shard as a set names it; ``version`` is None for a shard holding no document."""

    name: str
    version: str | None
    manifest_sha256: str | None
    documents: int


@dataclass(frozen=True)
class ShardSet:
    shards: tuple[ShardEntry, ...]
    sources: tuple[str, ...]  # absolute paths, as the ingest recorded them
    name: str = ""  # the file it was read from ("" until published)

    def to_json(self) -> bytes:
        body = {"format": SET_FORMAT, "partition": PARTITION, "count": len(self.shards),
                "sources": list(self.sources), "shards": [asdict(s) for s in self.shards]}
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> ShardSet:
        try:
            body = json.loads(data)
            if body["format"] != SET_FORMAT or body["partition"] != PARTITION:
                raise IndexCorrupt(f"{name}: a shard set of another format or partitioning")
            shards = tuple(ShardEntry(**entry) for entry in body["shards"])
            if len(shards) != body["count"] or [s.name for s in shards] != [
                    shard_dir_name(i) for i in range(len(shards))]:
                raise IndexCorrupt(f"{name}: the shard list is inconsistent")
            return cls(shards, tuple(body["sources"]), name)
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{name}: the shard set is unreadable ({type(exc).__name__})") \
                from exc


def read_shard_set(index_dir: Path) -> ShardSet | None:
    """The live shard set, checked against the checksum ``SHARDS`` records; None when there is
    none (an index that was never sharded)."""
    try:
        pointer = (index_dir / SHARDS).read_text(encoding="ascii").split()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{SHARDS} is unreadable") from exc
    if len(pointer) != 2 or not SET_NAME.match(pointer[0]) or not _SHA256.match(pointer[1]):
        raise IndexCorrupt(f"{SHARDS} is malformed (expected '<set name> <sha256>')")
    name, expected = pointer
    try:
        data = (index_dir / name).read_bytes()
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{SHARDS} names {name}, which does not exist") from exc
    if hashlib.sha256(data).hexdigest() != expected:
        raise IndexCorrupt(f"{name} does not match the checksum {SHARDS} records")
    return ShardSet.from_json(data, name)


def manifest_sha256(version_dir: Path) -> str:
    return hashlib.sha256((version_dir / MANIFEST_NAME).read_bytes()).hexdigest()


def check_shard_version(index_dir: Path, entry: ShardEntry) -> Path:
    """The directory of the shard version ``entry`` names, after checking that its manifest is
    the one the set recorded (the manifest lists, and loading verifies, every file's sha256)."""
    if entry.version is None or entry.manifest_sha256 is None:
        raise IndexCorrupt(f"{entry.name} holds no document")
    vdir = index_dir / entry.name / entry.version
    try:
        found = manifest_sha256(vdir)
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{entry.name}/{entry.version} is missing") from exc
    if found != entry.manifest_sha256:
        raise IndexCorrupt(f"{entry.name}/{entry.version}: manifest.json is not the one the "
                           "shard set records")
    return vdir


def _next_name(index_dir: Path, data: bytes) -> str:
    seqs = [int(m.group(1)) for p in index_dir.iterdir() if (m := SET_NAME.match(p.name))]
    return f"s{max(seqs, default=0) + 1:06d}-{hashlib.sha256(data).hexdigest()[:6]}.json"


def publish_shard_set(index_dir: Path, shard_set: ShardSet, steps: Steps | None = None) -> str:
    """Write ``shard_set`` under a new name and make it live (the commit point is the replace
    of ``SHARDS``); returns the name. The caller holds the index's writer lock."""
    steps = steps or Steps(None)
    data = shard_set.to_json()
    name = _next_name(index_dir, data)
    write_file(index_dir / name, data, index_dir, steps)
    steps.at("fsync-dir .")
    fsync_dir(index_dir)
    replace_pointer(index_dir, SHARDS, name, hashlib.sha256(data).hexdigest(), steps)
    steps.at("fsync-dir .")
    fsync_dir(index_dir)
    _prune(index_dir, keep={name, *_newest(index_dir, KEEP_SETS)})
    return name


def _newest(index_dir: Path, count: int) -> list[str]:
    return sorted((p.name for p in index_dir.iterdir() if SET_NAME.match(p.name)),
                  reverse=True)[:count]


def _prune(index_dir: Path, keep: set[str]) -> None:
    """Remove the shard sets older than the newest few (the shard versions they name are the
    shards' own garbage collection's to remove)."""
    for path in index_dir.iterdir():
        if SET_NAME.match(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)
