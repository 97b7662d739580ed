"""Versioned, immutable index directories and the atomically replaced ``CURRENT`` pointer.

The directory layout is described in layout.py, garbage collection in gc.py.

Publishing (Lucene's two-phase commit, LevelDB's CURRENT): write every file into
``.staging-<id>/`` and fsync it, write the manifest (sha256 of every file, and of itself), fsync
the staging directory, re-verify it, rename it to ``v<seq>-<digest>`` and fsync the index
directory, then write ``.CURRENT.tmp``, fsync it, ``os.replace`` it over ``CURRENT`` (the commit
point) and fsync the index directory again. A failure before the commit removes everything the
attempt wrote and leaves ``CURRENT`` as it was. Nothing ever writes into a published version.

Loading checks ``CURRENT``'s manifest hash, the manifest's own checksum and every file's sha256
before any byte reaches FAISS, numpy or bm25s. Garbage collection keeps the current version, the
one before it, the newest ``keep`` and every version a reader holds a lease on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .durable import (
    Failpoint,
    IndexBusy,
    Steps,
    VersionLease,
    acquire_lease,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    write_file,
)
from .gc import collect_garbage, remove_unpublished
from .layout import (
    CURRENT,
    CURRENT_TMP,
    STAGING_PREFIX,
    TRASH_PREFIX,
    VERSION_NAME,
    VersionGone,
    current_or_none,
    current_version,
    list_versions,
    next_version_name,
    read_current,
    read_document,
    read_manifest,
    verify_files,
    verify_manifest_and_files,
    verify_version,
    was_collected,
)
from .lexical import LexicalIndex
from .manifest import (
    DENSE_FROM_VECTORS_KEY,
    DENSE_SEARCH_KEY,
    MANIFEST_NAME,
    IndexCorrupt,
    dense_from_vectors,
    dense_search_entry,
    encode_manifest,
    sha256_file,
)
from .records import Chunk, DocumentRecord, Sentence
from .vectors import SearchTuning, VectorIndex

__all__ = [  # the store's public surface, including what it re-exports from layout and gc
    "CURRENT", "CURRENT_TMP", "STAGING_PREFIX", "TRASH_PREFIX", "IndexBusy", "IndexContent",
    "IndexCorrupt", "IndexNotFound", "IndexSnapshot", "PublishFailed", "VersionGone",
    "collect_garbage", "current_version", "list_versions", "load_snapshot", "read_current",
    "read_document", "read_manifest", "verify_files", "verify_version", "was_collected",
    "write_version", "writer_lock",
]

writer_lock = exclusive_lock


class IndexNotFound(Exception):
    """No published index exists at the configured location."""


class PublishFailed(Exception):
    """Writing a new version failed; the message says at which step and what CURRENT names now."""


@dataclass(frozen=True)
class IndexContent:
    """Everything a version holds, in unit order (documents sorted by id, units by ordinal)."""

    documents: list[DocumentRecord]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_tokens: list[list[str]]
    chunk_tokens: list[list[str]]


@dataclass(frozen=True)
class IndexSnapshot:
    """A loaded, verified version: records, vectors, and the dense and BM25 indexes.

    It holds a lease on its version until ``close()`` (or until it is garbage-collected), so
    ``collect_garbage`` never removes a version that is being served. Usable as a context manager.
    """

    version: str
    manifest: dict[str, Any]
    content: IndexContent
    chunk_dense: VectorIndex
    sentence_dense: VectorIndex
    chunk_bm25: LexicalIndex
    sentence_bm25: LexicalIndex
    lease: VersionLease | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Release the lease; the in-memory data stays usable."""
        if self.lease is not None:
            self.lease.close()

    def __enter__(self) -> IndexSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- writing -------------------------------------------------------------------------------


def _jsonl(rows: list[Any]) -> bytes:
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _write_staging(
    staging: Path, index_dir: Path, content: IndexContent, manifest: dict[str, Any],
    dense: dict[str, VectorIndex], lexical: dict[str, LexicalIndex], steps: Steps,
) -> bytes:
    """Write and fsync every file of a version into ``staging``; returns the manifest bytes."""
    files = {
        "documents.jsonl": _jsonl([asdict(d) for d in content.documents]),
        "chunks.jsonl": _jsonl([asdict(c) for c in content.chunks]),
        "sentences.jsonl": _jsonl([asdict(s) for s in content.sentences]),
        "sentence_tokens.jsonl": _jsonl(content.sentence_tokens),
        "chunk_tokens.jsonl": _jsonl(content.chunk_tokens),
        "chunk_vectors.npy": _npy_bytes(content.chunk_vectors),
        "sentence_vectors.npy": _npy_bytes(content.sentence_vectors),
        # FAISS bytes are serialised in memory and written here, never by faiss.write_index. An
        # exact index would repeat the .npy byte for byte: it is built from it at load instead.
        **{name: index.to_bytes() for name, index in dense.items() if not index.exact},
    }
    derived = sorted(name for name, index in dense.items() if index.exact)
    checksums = {}
    for name, data in files.items():
        write_file(staging / name, data, index_dir, steps)
        checksums[name] = hashlib.sha256(data).hexdigest()
    for name, index in lexical.items():
        target = staging / name
        rel = target.relative_to(index_dir).as_posix()
        steps.at(f"write {rel}/")  # bm25s writes its files into our private staging directory
        index.save(target)
        for file in sorted(target.iterdir()):
            steps.at(f"fsync {file.relative_to(index_dir).as_posix()}")
            fsync_file(file)
            checksums[file.relative_to(staging).as_posix()] = sha256_file(file)
        steps.at(f"fsync-dir {rel}")
        fsync_dir(target)
    # The search parameters each FAISS file was tuned to, so loading serves it as measured.
    searched = {name: index.tuning.to_manifest() for name, index in dense.items()
                if index.tuning is not None}
    data = encode_manifest({**manifest, DENSE_SEARCH_KEY: searched,
                            **({DENSE_FROM_VECTORS_KEY: derived} if derived else {}),
                            "files": dict(sorted(checksums.items()))})
    write_file(staging / MANIFEST_NAME, data, index_dir, steps)
    steps.at(f"fsync-dir {staging.name}")
    fsync_dir(staging)
    return data


def write_version(
    index_dir: Path,
    content: IndexContent,
    manifest: dict[str, Any],
    chunk_dense: VectorIndex,
    sentence_dense: VectorIndex,
    chunk_bm25: LexicalIndex,
    sentence_bm25: LexicalIndex,
    digest: str,
    *,
    failpoint: Failpoint | None = None,
) -> str:
    """Write a new version and make it current; returns its name. Caller holds writer_lock.

    Raises PublishFailed (with the failing step) when the disk refuses; CURRENT is then unchanged
    unless the message says the version was made current.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps(failpoint)
    before = current_or_none(index_dir)
    remove_unpublished(index_dir, before, steps)
    staging = index_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    final: Path | None = None
    committed = False
    try:
        steps.at(f"mkdir {staging.name}")
        staging.mkdir()
        manifest_bytes = _write_staging(
            staging, index_dir, content, manifest,
            {"chunks.faiss": chunk_dense, "sentences.faiss": sentence_dense},
            {"bm25-chunks": chunk_bm25, "bm25-sentences": sentence_bm25}, steps,
        )
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        verify_manifest_and_files(staging, manifest_sha)  # never publish what loading would refuse
        name = next_version_name(index_dir, digest)
        steps.at(f"rename {staging.name} {name}")
        os.rename(staging, index_dir / name)
        final = index_dir / name
        steps.at("fsync-dir .")
        fsync_dir(index_dir)
        tmp = index_dir / CURRENT_TMP
        write_file(tmp, f"{name} {manifest_sha}\n".encode(), index_dir, steps)
        steps.at(f"replace {CURRENT_TMP} {CURRENT}")
        os.replace(tmp, index_dir / CURRENT)
        committed = True  # the commit point: readers now see the new version
        steps.at("fsync-dir .")
        fsync_dir(index_dir)
        return name
    except BaseException as exc:
        if not committed:
            _discard_attempt(index_dir, staging, final)
        if not isinstance(exc, OSError):
            raise
        where = f"at step '{steps.last}' ({exc.strerror or exc})"
        if committed:
            raise PublishFailed(
                f"{final.name if final else '?'} was made current, but syncing the index directory "
                f"failed {where}; it may not survive a power loss"
            ) from exc
        raise PublishFailed(
            f"could not publish a new index version {where}; CURRENT is unchanged "
            f"({before or 'no version'}) and the partial version was removed"
        ) from exc


def _discard_attempt(index_dir: Path, staging: Path, final: Path | None) -> None:
    for path in (staging, final):
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        (index_dir / CURRENT_TMP).unlink(missing_ok=True)


# ---- reading -------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_npy(path: Path, rows: int) -> np.ndarray:
    array = np.load(path, allow_pickle=False)
    if array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != rows:
        raise IndexCorrupt(f"{path.name}: unexpected shape {array.shape} / dtype {array.dtype}")
    return array


def _load_dense(
    vdir: Path, manifest: dict[str, Any], name: str, vectors: np.ndarray
) -> VectorIndex:
    """A FAISS file with the search parameters its manifest records (ValueError if malformed),
    or, for an exact index the version does not store, a Flat index over its (verified) vectors."""
    if name in dense_from_vectors(manifest):
        return VectorIndex.build(vectors, "Flat")
    entry = dense_search_entry(manifest, name)
    tuning = None if entry is None else SearchTuning.from_manifest(entry)
    return VectorIndex.from_bytes((vdir / name).read_bytes(), tuning)


def _load_version(
    vdir: Path, manifest: dict[str, Any], lease: VersionLease | None
) -> IndexSnapshot:
    name = vdir.name
    try:
        documents = [DocumentRecord(**row) for row in _read_jsonl(vdir / "documents.jsonl")]
        chunks = [Chunk(**row) for row in _read_jsonl(vdir / "chunks.jsonl")]
        sentences = [Sentence(**row) for row in _read_jsonl(vdir / "sentences.jsonl")]
        content = IndexContent(
            documents=documents,
            chunks=chunks,
            sentences=sentences,
            chunk_vectors=_read_npy(vdir / "chunk_vectors.npy", len(chunks)),
            sentence_vectors=_read_npy(vdir / "sentence_vectors.npy", len(sentences)),
            sentence_tokens=_read_jsonl(vdir / "sentence_tokens.jsonl"),
            chunk_tokens=_read_jsonl(vdir / "chunk_tokens.jsonl"),
        )
        snapshot = IndexSnapshot(
            version=name,
            manifest=manifest,
            content=content,
            chunk_dense=_load_dense(vdir, manifest, "chunks.faiss", content.chunk_vectors),
            sentence_dense=_load_dense(
                vdir, manifest, "sentences.faiss", content.sentence_vectors),
            chunk_bm25=LexicalIndex.load(vdir / "bm25-chunks"),
            sentence_bm25=LexicalIndex.load(vdir / "bm25-sentences"),
            lease=lease,
        )
    except (TypeError, ValueError, KeyError, RuntimeError, OSError) as exc:
        raise IndexCorrupt(f"{name}: records are unreadable ({type(exc).__name__})") from exc
    counts = {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)}
    if manifest.get("counts") != counts:
        raise IndexCorrupt(f"{name}: record counts {counts} differ from the manifest")
    if len(snapshot.chunk_dense) != len(chunks) or len(snapshot.sentence_dense) != len(sentences):
        raise IndexCorrupt(f"{name}: dense index sizes do not match the records")
    return snapshot


def load_snapshot(
    index_dir: Path, version: str | None = None, *, lease: bool = True
) -> IndexSnapshot:
    """Load and verify a version (default: CURRENT). Raises IndexNotFound / IndexCorrupt /
    IndexMismatch (another format). The snapshot holds a lease until ``close()``."""
    for _ in range(10):
        expected_sha: str | None = None
        if version is None:
            pointer = read_current(index_dir)
            if pointer is None:
                raise IndexNotFound(f"no index at {index_dir}: run `citeqa ingest` first")
            name, expected_sha = pointer
        elif VERSION_NAME.match(version):
            name = version
        else:
            raise IndexCorrupt(f"{version[:40]!r} is not a version name")
        held = acquire_lease(index_dir, name) if lease else None
        try:
            vdir = index_dir / name
            if not vdir.is_dir():
                if version is None and read_current(index_dir) != pointer:
                    raise _Moved  # CURRENT moved on and GC removed the old one: read it again
                raise IndexCorrupt(f"{'CURRENT names ' if version is None else ''}{name}, "
                                   "which does not exist")
            manifest = verify_manifest_and_files(vdir, expected_sha)
            return _load_version(vdir, manifest, held)
        except _Moved:
            pass
        except BaseException:
            if held is not None:
                held.close()
            raise
        if held is not None:
            held.close()
    raise IndexCorrupt(f"{index_dir}: CURRENT kept changing while the index was being loaded")


class _Moved(Exception):
    pass
