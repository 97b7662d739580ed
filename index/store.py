"""Versioned, immutable index directories and the atomically replaced ``CURRENT`` pointer.

The directory layout is described in layout.py, a version's files in version_writer.py, garbage
collection in gc.py.

Publishing (Lucene's two-phase commit, LevelDB's CURRENT): write every file into
``.staging-<id>/`` as ingest goes (``stage_version``: a document at a time) and fsync it, write
the manifest (sha256 of every file, and of itself), fsync the staging directory, re-verify it,
rename it to ``v<seq>-<digest>`` and fsync the index directory, then write ``.CURRENT.tmp``,
fsync it, ``os.replace`` it over ``CURRENT`` (the commit point) and fsync the index directory
again. A failure before the commit removes everything the attempt wrote and leaves ``CURRENT`` as
it was. Nothing ever writes into a published version.

Loading checks ``CURRENT``'s manifest hash, the manifest's own checksum and every file's sha256
before any byte reaches FAISS, numpy or bm25s; the arrays are then memory-mapped (a published
version is never written again). Garbage collection keeps the current version, the one before
it, the newest ``keep`` and every version a reader holds a lease on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
    replace_pointer,
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
)
from .records import DocumentRecord, DocUnits, Units
from .vectors import SearchTuning, VectorIndex
from .version_reader import (
    PreviousUnits,
    VersionArrays,
    chunk_table,
    open_arrays,
    read_documents,
    sentence_table,
    token_lists,
)
from .version_writer import VersionWriter

__all__ = [  # the store's public surface, including what it re-exports from layout and gc
    "CURRENT", "CURRENT_TMP", "STAGING_PREFIX", "TRASH_PREFIX", "IndexBusy", "IndexContent",
    "IndexCorrupt", "IndexNotFound", "IndexSnapshot", "PublishFailed", "VersionGone",
    "collect_garbage", "current_version", "list_versions", "load_snapshot", "read_current",
    "read_document", "read_manifest", "stage_version", "verify_files", "verify_version",
    "was_collected", "write_version", "writer_lock",
]

writer_lock = exclusive_lock


class IndexNotFound(Exception):
    """No published index exists at the configured location."""


class PublishFailed(Exception):
    """Writing a new version failed; the message says at which step and what CURRENT names now."""


@dataclass(frozen=True, kw_only=True)
class IndexContent(Units):
    """Everything a version holds, in unit order (documents sorted by id, units by ordinal).

    A loaded version's units are views over its memory-mapped arrays (``tables``), built into
    records only for the rows asked for; its documents (the texts citations quote) are in memory.
    """

    documents: Sequence[DocumentRecord]


@dataclass(frozen=True)
class IndexSnapshot:
    """A loaded, verified version: records, vectors, and the dense and BM25 indexes.

    It holds a lease on its version until ``close()`` (or until it is garbage-collected), so
    ``collect_garbage`` never removes a version that is being served. Usable as a context manager.
    ``arrays`` are the per-unit arrays the records are views of (memory-mapped).
    """

    version: str
    manifest: dict[str, Any]
    content: IndexContent
    arrays: VersionArrays
    chunk_dense: VectorIndex
    sentence_dense: VectorIndex
    chunk_bm25: LexicalIndex
    sentence_bm25: LexicalIndex
    lease: VersionLease | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Release the lease; the data stays usable (mapped files outlive their removal)."""
        if self.lease is not None:
            self.lease.close()

    def __enter__(self) -> IndexSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- writing -------------------------------------------------------------------------------


class StagedVersion:
    """A version being written (``writer``) in a staging directory; ``publish`` makes it current.

    Made by ``stage_version`` (the caller holds writer_lock). Any OSError while staging or
    publishing becomes PublishFailed naming the step; until the commit, a failure (or leaving the
    ``stage_version`` block without publishing) removes everything the attempt wrote and leaves
    ``CURRENT`` as it was.
    """

    def __init__(self, index_dir: Path, staging: Path, writer: VersionWriter,
                 steps: Steps) -> None:
        self.index_dir, self.staging, self.writer = index_dir, staging, writer
        self._steps = steps
        self.final: Path | None = None  # the version directory once renamed into place
        self.committed = False  # CURRENT names it

    def publish(self, manifest: dict[str, Any], digest: str, *, faiss_factory: str,
                bm25_k1: float, bm25_b: float) -> str:
        """Complete the files, write the manifest (``manifest`` plus the file checksums and the
        dense search entries), verify, rename into place and replace CURRENT; returns the name."""
        index_dir, steps = self.index_dir, self._steps
        files = self.writer.finish(faiss_factory, bm25_k1, bm25_b)
        derived = files[DENSE_FROM_VECTORS_KEY]
        data = encode_manifest({**manifest, DENSE_SEARCH_KEY: files[DENSE_SEARCH_KEY],
                                **({DENSE_FROM_VECTORS_KEY: derived} if derived else {}),
                                "files": dict(sorted(files["files"].items()))})
        write_file(self.staging / MANIFEST_NAME, data, index_dir, steps)
        steps.at(f"fsync-dir {self.staging.name}")
        fsync_dir(self.staging)
        manifest_sha = hashlib.sha256(data).hexdigest()
        verify_manifest_and_files(self.staging, manifest_sha)  # never publish what loading refuses
        name = next_version_name(index_dir, digest)
        steps.at(f"rename {self.staging.name} {name}")
        os.rename(self.staging, index_dir / name)
        self.final = index_dir / name
        steps.at("fsync-dir .")
        fsync_dir(index_dir)
        replace_pointer(index_dir, CURRENT, name, manifest_sha, steps)
        self.committed = True  # the commit point: readers now see the new version
        steps.at("fsync-dir .")
        fsync_dir(index_dir)
        return name


@contextlib.contextmanager
def stage_version(
    index_dir: Path, dim: int, failpoint: Failpoint | None = None
) -> Iterator[StagedVersion]:
    """A staging directory with a ``VersionWriter`` for a new version; the body adds documents
    and calls ``publish``, or leaves without publishing (everything staged is removed)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps(failpoint)
    before = current_or_none(index_dir)
    staged: StagedVersion | None = None
    staging = index_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        remove_unpublished(index_dir, before, steps)
        steps.at(f"mkdir {staging.name}")
        staging.mkdir()
        writer = VersionWriter(staging, index_dir, dim, steps)
        staged = StagedVersion(index_dir, staging, writer, steps)
        yield staged
        if not staged.committed:
            writer.abort()
            _discard_attempt(index_dir, staging, None)
    except BaseException as exc:
        committed = staged is not None and staged.committed
        if staged is not None and not committed:
            staged.writer.abort()
        if not committed:
            _discard_attempt(index_dir, staging, staged.final if staged else None)
        if not isinstance(exc, OSError):
            raise
        where = f"at step '{steps.last}' ({exc.strerror or exc})"
        if committed:
            final = staged.final if staged else None
            raise PublishFailed(
                f"{final.name if final else '?'} was made current, but syncing the index directory "
                f"failed {where}; it may not survive a power loss"
            ) from exc
        raise PublishFailed(
            f"could not publish a new index version {where}; CURRENT is unchanged "
            f"({before or 'no version'}) and the partial version was removed"
        ) from exc


def write_version(
    index_dir: Path, content: IndexContent, manifest: dict[str, Any], digest: str, *,
    failpoint: Failpoint | None = None,
) -> str:
    """Write ``content`` as a new version and make it current; returns its name. The caller
    holds writer_lock; the build settings (FAISS factory, BM25 parameters) are the manifest's."""
    settings = manifest["settings"]
    dim = content.sentence_vectors.shape[1]
    with stage_version(index_dir, dim, failpoint) as staged:
        for units in document_units(content):
            staged.writer.add(units.record, units)
        return staged.publish(manifest, digest, faiss_factory=settings["faiss_factory"],
                              bm25_k1=settings["bm25_k1"], bm25_b=settings["bm25_b"])


def document_units(content: IndexContent) -> Iterator[DocUnits]:
    """Each document's share of ``content``, in order."""
    s_at = c_at = 0
    for record in content.documents:
        s_end, c_end = s_at, c_at
        while s_end < len(content.sentences) and content.sentences[s_end].doc_id == record.doc_id:
            s_end += 1
        while c_end < len(content.chunks) and content.chunks[c_end].doc_id == record.doc_id:
            c_end += 1
        yield DocUnits(
            record=record,
            sentences=content.sentences[s_at:s_end],
            chunks=content.chunks[c_at:c_end],
            sentence_vectors=np.asarray(content.sentence_vectors[s_at:s_end]),
            chunk_vectors=np.asarray(content.chunk_vectors[c_at:c_end]),
            sentence_tokens=content.sentence_tokens[s_at:s_end],
            chunk_tokens=content.chunk_tokens[c_at:c_end],
        )
        s_at, c_at = s_end, c_end


def _discard_attempt(index_dir: Path, staging: Path, final: Path | None) -> None:
    for path in (staging, final):
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        (index_dir / CURRENT_TMP).unlink(missing_ok=True)


# ---- reading -------------------------------------------------------------------------------


def _load_dense(
    vdir: Path, manifest: dict[str, Any], name: str, vectors: np.ndarray
) -> VectorIndex:
    """A FAISS file with the search parameters its manifest records (ValueError if malformed),
    or, for an exact index the version does not store, exact search over its mapped vectors."""
    if name in dense_from_vectors(manifest):
        return VectorIndex.exact_over(vectors)
    entry = dense_search_entry(manifest, name)
    tuning = None if entry is None else SearchTuning.from_manifest(entry)
    return VectorIndex.read(vdir / name, tuning)


def _load_version(
    vdir: Path, manifest: dict[str, Any], lease: VersionLease | None
) -> IndexSnapshot:
    name = vdir.name
    counts = manifest.get("counts")
    try:
        if not isinstance(counts, dict):
            raise KeyError("counts")
        arrays = open_arrays(vdir, counts)
        documents = read_documents(vdir)
        if len(documents) != counts["documents"]:
            raise IndexCorrupt(f"{name}: record counts differ from the manifest")
        content = IndexContent(
            documents=documents,
            chunks=chunk_table(arrays, documents),
            sentences=sentence_table(arrays, documents),
            chunk_vectors=arrays.chunk_vectors,
            sentence_vectors=arrays.sentence_vectors,
            sentence_tokens=token_lists(arrays, "sentence"),
            chunk_tokens=token_lists(arrays, "chunk"),
        )
        vocabulary = arrays.vocabulary.ids
        snapshot = IndexSnapshot(
            version=name,
            manifest=manifest,
            content=content,
            arrays=arrays,
            chunk_dense=_load_dense(vdir, manifest, "chunks.faiss", arrays.chunk_vectors),
            sentence_dense=_load_dense(vdir, manifest, "sentences.faiss",
                                       arrays.sentence_vectors),
            chunk_bm25=LexicalIndex.load(vdir / "bm25-chunks", vocabulary),
            sentence_bm25=LexicalIndex.load(vdir / "bm25-sentences", vocabulary),
            lease=lease,
        )
    except (TypeError, ValueError, KeyError, RuntimeError, OSError) as exc:
        raise IndexCorrupt(f"{name}: records are unreadable ({type(exc).__name__})") from exc
    if (len(snapshot.chunk_dense) != counts["chunks"]
            or len(snapshot.sentence_dense) != counts["sentences"]):
        raise IndexCorrupt(f"{name}: dense index sizes do not match the records")
    return snapshot


@dataclass
class PreviousVersion:
    """The current version opened for an ingest to reuse: verified, leased, its documents read
    one at a time (``units``)."""

    version: str
    manifest: dict[str, Any]
    units: PreviousUnits
    lease: VersionLease | None

    def close(self) -> None:
        self.units.close()
        if self.lease is not None:
            self.lease.close()


def open_previous(index_dir: Path) -> PreviousVersion:
    """CURRENT's version with every checksum verified, for ingest (which holds writer_lock, so
    CURRENT stays put). Raises IndexNotFound / IndexCorrupt / IndexMismatch like load_snapshot."""
    pointer = read_current(index_dir)
    if pointer is None:
        raise IndexNotFound(f"no index at {index_dir}")
    name, expected_sha = pointer
    held = acquire_lease(index_dir, name)
    try:
        vdir = index_dir / name
        if not vdir.is_dir():
            raise IndexCorrupt(f"CURRENT names {name}, which does not exist")
        manifest = verify_manifest_and_files(vdir, expected_sha)
        try:
            units = PreviousUnits(vdir, manifest["counts"])
        except (TypeError, ValueError, KeyError, OSError) as exc:
            raise IndexCorrupt(f"{name}: records are unreadable ({type(exc).__name__})") from exc
    except BaseException:
        if held is not None:
            held.close()
        raise
    return PreviousVersion(name, manifest, units, held)


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
