"""What an index directory holds and how to tell a valid version: names, the ``CURRENT``
pointer, and checks of a version's manifest and files (without loading anything).

``<index_dir>``::

    CURRENT                  "<version> <sha256 of its manifest.json>\\n" (replaced atomically)
    .lock                    single-writer lock for ingest
    .leases/<version>        reader leases: a shared flock per loaded snapshot (see durable.py)
    .staging-<id>/           a version being written (removed if the writer fails or dies)
    .trash-<version>/        a version being removed by garbage collection
    .collected               names of the versions garbage collection removed, one a line
    v000003-1a2b3c/          one immutable version (manifest.json + data files)

One document of any version still on disk can be read without loading that version
(``read_document``): a citation names the version it quotes, which may no longer be served.
``.collected`` tells a version that is gone from one that never existed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .manifest import MANIFEST_NAME, IndexCorrupt, IndexMismatch, parse_manifest, sha256_file
from .records import DocumentRecord

CURRENT = "CURRENT"
CURRENT_TMP = f".{CURRENT}.tmp"  # durable.replace_pointer's temporary name
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
COLLECTED = ".collected"
VERSION_NAME = re.compile(r"^v(\d{6})-[0-9a-f]{6}$")
DOCUMENTS_FILE = "documents.jsonl"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class VersionGone(Exception):
    """The version is not on disk: garbage-collected, or it never existed."""


def read_current(index_dir: Path) -> tuple[str, str] | None:
    """(version, manifest sha256) named by CURRENT, None if there is none; IndexCorrupt if bad."""
    try:
        raw = (index_dir / CURRENT).read_bytes()
    except FileNotFoundError:
        return None
    fields = raw.decode("ascii", errors="replace").split()
    name = fields[0] if fields else ""
    if not VERSION_NAME.match(name):
        raise IndexCorrupt(f"{CURRENT} does not name a version: {name[:40]!r}")
    if raw == f"{name}\n".encode():
        raise IndexMismatch(
            [f"{CURRENT} names {name} in the format of an older citeqa (no manifest checksum): "
             "rebuild the index with `citeqa ingest`"]
        )
    if len(fields) != 2 or not _SHA256.match(fields[1]) or raw != f"{name} {fields[1]}\n".encode():
        raise IndexCorrupt(f"{CURRENT} is malformed (expected '<version> <manifest sha256>')")
    return name, fields[1]


def current_version(index_dir: Path) -> str | None:
    pointer = read_current(index_dir)
    return pointer[0] if pointer else None


def current_or_none(index_dir: Path) -> str | None:
    """The current version for the writer's housekeeping; None when CURRENT is missing or bad."""
    with contextlib.suppress(IndexCorrupt, IndexMismatch):
        return current_version(index_dir)
    return None


def list_versions(index_dir: Path) -> list[str]:
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if VERSION_NAME.match(p.name))


def was_collected(index_dir: Path, version: str) -> bool:
    """Whether garbage collection removed ``version`` (recorded since citations name versions)."""
    try:
        with (index_dir / COLLECTED).open(encoding="ascii", errors="replace") as fh:
            return any(line.strip() == version for line in fh)
    except OSError:
        return False


def next_version_name(index_dir: Path, digest: str) -> str:
    versions = list_versions(index_dir)
    seq = int(VERSION_NAME.match(versions[-1]).group(1)) + 1 if versions else 1  # type: ignore[union-attr]
    return f"v{seq:06d}-{digest[:6]}"


# ---- checking a version -------------------------------------------------------------------


def read_manifest(version_dir: Path, expected_sha: str | None = None) -> dict[str, Any]:
    """Parse and check a version's manifest (against CURRENT's hash too, when given)."""
    try:
        data = (version_dir / MANIFEST_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{version_dir.name}: manifest.json is missing") from exc
    manifest = parse_manifest(data, version_dir.name)
    if expected_sha is not None and hashlib.sha256(data).hexdigest() != expected_sha:
        raise IndexCorrupt(
            f"{version_dir.name}: manifest.json does not match the checksum {CURRENT} records"
        )
    return manifest


def _safe_relative(rel: object) -> bool:
    return (
        isinstance(rel, str) and bool(rel) and not rel.startswith("/")
        and ".." not in rel.split("/") and rel != MANIFEST_NAME
    )


def verify_files(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists with its recorded sha256, and nothing unlisted was added."""
    listed = manifest["files"]
    for rel, expected in sorted(listed.items()):
        if not _safe_relative(rel) or not isinstance(expected, str):
            raise IndexCorrupt(f"{version_dir.name}: manifest.json lists a bad entry {rel!r}")
        path = version_dir / rel
        if not path.is_file():
            raise IndexCorrupt(f"{version_dir.name}: {rel} is missing")
        if sha256_file(path) != expected:
            raise IndexCorrupt(f"{version_dir.name}: {rel} fails its checksum")
    for path in sorted(version_dir.rglob("*")):
        rel = path.relative_to(version_dir).as_posix()
        if path.is_file() and rel != MANIFEST_NAME and rel not in listed:
            raise IndexCorrupt(f"{version_dir.name}: unexpected file {rel}")


def verify_manifest_and_files(version_dir: Path, expected_sha: str | None) -> dict[str, Any]:
    manifest = read_manifest(version_dir, expected_sha)
    verify_files(version_dir, manifest)
    return manifest


def verify_version(index_dir: Path, version: str) -> dict[str, Any]:
    """Check a version's manifest and every file checksum without loading it."""
    return verify_manifest_and_files(index_dir / version, None)


# ---- reading one document of a version ------------------------------------------------------


def read_document(index_dir: Path, version: str, doc_id: str) -> DocumentRecord | None:
    """``doc_id`` as ``version`` holds it, read from the version's directory alone: its manifest
    and one line of documents.jsonl, never the vectors or indexes. None when the version has no
    such document; VersionGone when the version is not on disk; IndexCorrupt when the text does
    not match the sha256 the (self-checked) manifest records, so other text is never returned."""
    if not VERSION_NAME.match(version):
        raise VersionGone(version)
    vdir = index_dir / version
    if not vdir.is_dir():
        raise VersionGone(version)
    try:
        documents = read_manifest(vdir).get("documents")
        if not isinstance(documents, dict):
            raise IndexCorrupt(f"{version}: manifest.json has no document list")
        entry = documents.get(doc_id)
        if entry is None:
            return None
        record = _scan_documents(vdir / DOCUMENTS_FILE, doc_id)
    except (IndexCorrupt, OSError):
        if not vdir.is_dir():  # garbage collection renamed it away while we were reading
            raise VersionGone(version) from None
        raise
    expected = entry.get("text_sha256") if isinstance(entry, dict) else None
    if record is None or hashlib.sha256(record.text.encode()).hexdigest() != expected:
        raise IndexCorrupt(f"{version}: a document's text does not match its manifest entry")
    return record


def _scan_documents(path: Path, doc_id: str) -> DocumentRecord | None:
    # One JSON object a line; only lines naming the id (as a JSON string) are parsed.
    needles = {json.dumps(doc_id), json.dumps(doc_id, ensure_ascii=False)}
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if any(needle in line for needle in needles):
                    row = json.loads(line)
                    if isinstance(row, dict) and row.get("doc_id") == doc_id:
                        return DocumentRecord(**row)
    except (ValueError, TypeError) as exc:  # not UTF-8, not JSON, or not a document record
        raise IndexCorrupt(f"{path.parent.name}: {DOCUMENTS_FILE} is unreadable") from exc
    return None
