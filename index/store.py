"""Versioned, immutable index directories and the atomically replaced ``CURRENT`` pointer.

Layout of ``<index_dir>``::

    CURRENT                  the live version's name (replaced atomically)
    .lock                    single-writer lock for ingest
    v000003-1a2b3c/          one immutable version (manifest.json + data files)

Publishing writes a staging directory, fsyncs every file and the directory, renames it into place,
then replaces ``CURRENT`` and fsyncs the parent. Loading verifies every checksum in the manifest
before any byte reaches FAISS or bm25s.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .lexical import LexicalIndex
from .manifest import MANIFEST_NAME, IndexCorrupt, sha256_file
from .records import Chunk, DocumentRecord, Sentence
from .vectors import VectorIndex

CURRENT = "CURRENT"
_VERSION_NAME = re.compile(r"^v(\d{6})-[0-9a-f]{6}$")


class IndexNotFound(Exception):
    """No published index exists at the configured location."""


class IndexBusy(Exception):
    """Another writer holds the index lock."""


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
    """A loaded, verified version: records, vectors, and the dense and BM25 indexes."""

    version: str
    manifest: dict[str, Any]
    content: IndexContent
    chunk_dense: VectorIndex
    sentence_dense: VectorIndex
    chunk_bm25: LexicalIndex
    sentence_bm25: LexicalIndex


# ---- writing -------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _jsonl(rows: list[Any]) -> bytes:
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the single-writer lock; a second ingest fails at once instead of racing."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusy(f"another ingest holds the lock on {index_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def list_versions(index_dir: Path) -> list[str]:
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if _VERSION_NAME.match(p.name))


def _next_version_name(index_dir: Path, digest: str) -> str:
    versions = list_versions(index_dir)
    seq = int(_VERSION_NAME.match(versions[-1]).group(1)) + 1 if versions else 1  # type: ignore[union-attr]
    return f"v{seq:06d}-{digest[:6]}"


def write_version(
    index_dir: Path,
    content: IndexContent,
    manifest: dict[str, Any],
    chunk_dense: VectorIndex,
    sentence_dense: VectorIndex,
    chunk_bm25: LexicalIndex,
    sentence_bm25: LexicalIndex,
    digest: str,
) -> str:
    """Write a new version and make it current; returns its name. Caller holds writer_lock."""
    index_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=index_dir))
    try:
        files = {
            "documents.jsonl": _jsonl([asdict(d) for d in content.documents]),
            "chunks.jsonl": _jsonl([asdict(c) for c in content.chunks]),
            "sentences.jsonl": _jsonl([asdict(s) for s in content.sentences]),
            "sentence_tokens.jsonl": _jsonl(content.sentence_tokens),
            "chunk_tokens.jsonl": _jsonl(content.chunk_tokens),
            "chunk_vectors.npy": _npy_bytes(content.chunk_vectors),
            "sentence_vectors.npy": _npy_bytes(content.sentence_vectors),
            "chunks.faiss": chunk_dense.to_bytes(),
            "sentences.faiss": sentence_dense.to_bytes(),
        }
        for name, data in files.items():
            _write_bytes(staging / name, data)
        for name, lexical in (("bm25-chunks", chunk_bm25), ("bm25-sentences", sentence_bm25)):
            lexical.save(staging / name)
            for file in (staging / name).iterdir():
                with file.open("rb") as fh:
                    os.fsync(fh.fileno())
            _fsync_dir(staging / name)
        checksums = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {**manifest, "files": checksums}
        _write_bytes(
            staging / MANIFEST_NAME,
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode(),
        )
        _fsync_dir(staging)
        name = _next_version_name(index_dir, digest)
        final = index_dir / name
        os.rename(staging, final)
        _fsync_dir(index_dir)
        _point_current(index_dir, name)
        return name
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _point_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".{CURRENT}.tmp"
    _write_bytes(tmp, (name + "\n").encode())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)


def collect_garbage(index_dir: Path, keep: int) -> list[str]:
    """Remove old versions beyond the newest ``keep`` (never the current one) and stale staging."""
    current = current_version(index_dir)
    removed = []
    for name in list_versions(index_dir)[:-keep] if keep > 0 else []:
        if name != current:
            shutil.rmtree(index_dir / name, ignore_errors=True)
            removed.append(name)
    for stale in index_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return removed


# ---- reading -------------------------------------------------------------------------------


def current_version(index_dir: Path) -> str | None:
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    if not _VERSION_NAME.match(name):
        raise IndexCorrupt(f"{index_dir / CURRENT} does not name a version: {name[:40]!r}")
    return name


def read_manifest(version_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((version_dir / MANIFEST_NAME).read_text())
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{version_dir.name}: manifest.json is missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{version_dir.name}: manifest.json is not valid JSON") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexCorrupt(f"{version_dir.name}: manifest.json has no file list")
    return manifest


def verify_files(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists with its recorded sha256, and nothing unlisted was added."""
    listed = manifest["files"]
    for rel, expected in sorted(listed.items()):
        path = version_dir / rel
        if not path.is_file():
            raise IndexCorrupt(f"{version_dir.name}: {rel} is missing")
        if sha256_file(path) != expected:
            raise IndexCorrupt(f"{version_dir.name}: {rel} fails its checksum")


def _read_jsonl(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_npy(path: Path, rows: int) -> np.ndarray:
    array = np.load(path, allow_pickle=False)
    if array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != rows:
        raise IndexCorrupt(f"{path.name}: unexpected shape {array.shape} / dtype {array.dtype}")
    return array


def load_snapshot(index_dir: Path, version: str | None = None) -> IndexSnapshot:
    """Load and verify a version (default: CURRENT). Raises IndexNotFound / IndexCorrupt."""
    name = version or current_version(index_dir)
    if name is None:
        raise IndexNotFound(f"no index at {index_dir}: run `citeqa ingest` first")
    vdir = index_dir / name
    if not vdir.is_dir():
        raise IndexCorrupt(f"CURRENT names {name}, which does not exist")
    manifest = read_manifest(vdir)
    verify_files(vdir, manifest)
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
            chunk_dense=VectorIndex.from_bytes((vdir / "chunks.faiss").read_bytes()),
            sentence_dense=VectorIndex.from_bytes((vdir / "sentences.faiss").read_bytes()),
            chunk_bm25=LexicalIndex.load(vdir / "bm25-chunks"),
            sentence_bm25=LexicalIndex.load(vdir / "bm25-sentences"),
        )
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexCorrupt(f"{name}: records are unreadable ({type(exc).__name__})") from exc
    if len(snapshot.chunk_dense) != len(chunks) or len(snapshot.sentence_dense) != len(sentences):
        raise IndexCorrupt(f"{name}: dense index sizes do not match the records")
    return snapshot
