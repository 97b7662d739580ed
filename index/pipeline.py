"""Ingest: files -> documents -> sentences and chunks -> embeddings -> a published index version.

Incremental by content: a document whose file bytes are unchanged keeps its records and vectors
from the current version; only new or changed files are segmented and embedded. Each document is
embedded in its own ``encode`` call, so its vectors never depend on what else is in the batch and an
incremental build is byte-identical to a fresh one.

One bad file never stops an ingest: whatever goes wrong while reading, parsing or segmenting it
(including a per-file time limit) is reported in ``IngestReport.skipped`` and the rest go on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from .config import IngestConfig as IngestConfig  # its home is index.config (light)
from .deadline import Deadline
from .durable import Failpoint
from .embed import Encoder
from .ingest_progress import IngestProgress
from .lexical import LexicalIndex
from .loaders import parse_document
from .manifest import (
    FORMAT_VERSION,
    SOURCES_KEY,
    BuildSettings,
    IndexCorrupt,
    IndexMismatch,
    check_compatible,
    library_versions,
    model_entry,
    probe_entry,
)
from .records import DocumentRecord, LoadError
from .source_report import SourceSummary, summarise
from .source_set import absolute, current_sources, owner, plan_sources
from .sources import Source, find_sources, read_source
from .store import (
    IndexContent,
    IndexNotFound,
    collect_garbage,
    load_snapshot,
    write_version,
    writer_lock,
)
from .units import DocUnits, Segmented, embed_units, segment_record, units_from_snapshot
from .vectors import VectorIndex


@dataclass
class IngestReport:
    version: str | None = None
    published: bool = False
    embedded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    sources: list[SourceSummary] = field(default_factory=list)
    skipped: list[LoadError] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    seconds: float = 0.0
    note: str = ""


def build_units(
    record: DocumentRecord, skip, config: IngestConfig, encoder: Encoder,
    deadline: Deadline | None = None,
) -> DocUnits:
    """Segment, chunk, tokenize and embed one document."""
    segmented = segment_record(record, skip, config.chunk_size, config.chunk_overlap, deadline)
    return embed_units(segmented, encoder)


def _reusable_previous(
    index_dir: Path, encoder: Encoder, settings: BuildSettings
) -> tuple[dict[str, DocUnits], str, str | None]:
    """The current version's units if it was built the same way, else nothing (and why), and the
    current version's name when it verified."""
    try:
        snapshot = load_snapshot(index_dir)
    except IndexNotFound:
        return {}, "", None
    except (IndexCorrupt, IndexMismatch) as exc:
        return {}, f"rebuilding everything: the current index cannot be reused ({exc})", None
    with snapshot:  # the in-memory records outlive the lease
        try:
            check_compatible(
                snapshot.manifest, encoder.identity, settings.tokenizer, encoder=encoder
            )
        except IndexMismatch as exc:
            return {}, f"rebuilding everything: the current index cannot be reused ({exc})", None
        if snapshot.manifest.get("settings") != settings.as_dict():
            return {}, "rebuilding everything: build settings changed", snapshot.version
        return units_from_snapshot(snapshot), "", snapshot.version


def _size(source: Source) -> int:
    """The file's size on disk: the progress bar's estimate of its characters until it is read."""
    try:
        return source.path.stat().st_size
    except OSError:
        return 0


def _load_and_segment(
    source: Source, data: bytes, sha: str, config: IngestConfig
) -> Segmented:
    """One file's records, or ``LoadError`` for any failure, so that one hostile file (input a
    parser library was never tested on) is reported and skipped rather than ending the ingest."""
    path = source.path
    deadline = Deadline.start(str(path), config.max_file_seconds)
    try:
        loaded = parse_document(source, data, deadline)
        record = DocumentRecord(
            doc_id=loaded.doc_id, title=loaded.title, url=loaded.url, date=loaded.date,
            source_path=str(path), content_sha256=sha, text=loaded.text,
        )
        segmented = segment_record(
            record, loaded.skip, config.chunk_size, config.chunk_overlap, deadline
        )
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is this file's, reported by name
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise LoadError(
            str(path), f"could not be loaded ({type(exc).__name__}{': ' if detail else ''}"
            f"{detail})"
        ) from None
    if not segmented.sentences:
        raise LoadError(str(path), "no sentences found after removing boilerplate")
    return segmented


def ingest(
    paths: Sequence[Path], index_dir: Path, encoder: Encoder, config: IngestConfig | None = None,
    *, mode: Literal["replace", "add"] = "replace", remove: Sequence[Path] = (),
    default_paths: Sequence[Path] = (), progress: bool = True,
    failpoint: Failpoint | None = None,
) -> IngestReport:
    """Build or update the index; publish a version only when something changed.

    ``mode="replace"`` makes ``paths`` the only sources; ``"add"`` adds them to the sources the
    current version records and re-reads all of them (no paths: the recorded ones, or
    ``default_paths`` for a new index); ``remove`` drops recorded sources and their documents.
    Raises SourceError for an impossible request, IndexBusy when another ingest holds the lock,
    PublishFailed when the disk refuses the new version (the current one is then untouched).
    ``failpoint`` is for fault-injection tests.
    """
    config = config or IngestConfig()
    # Checked here, or every file would be skipped for the same configuration error.
    if config.chunk_size <= 0 or not 0 <= config.chunk_overlap < config.chunk_size:
        raise ValueError("need chunk_size > 0 and 0 <= chunk_overlap < chunk_size")
    started = time.perf_counter()
    report = IngestReport()
    settings = config.build_settings()
    with writer_lock(index_dir):
        recorded, derived = current_sources(index_dir)  # under the lock: no one moves them now
        plan = plan_sources(recorded, paths, remove=remove, replace=mode == "replace",
                            default=default_paths, derived=derived)
        previous, report.note, current = _reusable_previous(index_dir, encoder, settings)
        if derived and previous:
            report.note = (f"the index recorded no sources (an older citeqa built it): its "
                           f"{len(plan.recorded)} files are now its sources")
        units: dict[str, DocUnits] = {}
        sources = find_sources(plan.read,
                               follow_external_symlinks=config.follow_external_symlinks)
        shown = IngestProgress([_size(s) for s in sources], enabled=progress)
        for source in sources:
            path = source.path
            doc_id = path.stem
            shown.begin(path.name, _size(source))
            try:
                if doc_id in units:
                    raise LoadError(str(path), f"duplicate document id {doc_id!r}")
                data = read_source(path, source.root, config.max_file_bytes)
                sha = hashlib.sha256(data).hexdigest()
                old = previous.get(doc_id)
                if old is not None and old.record.content_sha256 == sha:
                    # Where it is now: a file moved between sources is attributed to the new one.
                    units[doc_id] = replace(
                        old, record=replace(old.record, source_path=str(path)))
                    report.reused.append(doc_id)
                    shown.passed()
                    continue
                segmented = _load_and_segment(source, data, sha, config)
                del data  # a large file's bytes need not outlive its text while it is embedded
                shown.measured(path.name, len(segmented.record.text))
                units[doc_id] = embed_units(segmented, encoder, shown.embedded)
                report.embedded.append(doc_id)
                shown.finished()
            except LoadError as exc:
                report.skipped.append(exc)
                shown.passed()
        shown.close()
        for doc_id, old in sorted(previous.items()):
            if doc_id not in units and owner(absolute(old.record.source_path), plan.missing):
                units[doc_id] = old  # its source is gone for now: keep it until told to drop it
                report.kept.append(doc_id)
        report.removed = sorted(set(previous) - set(units))
        report.sources = summarise(plan, report.embedded, report.reused, report.kept,
                                   report.removed, {**previous, **units}, previous)
        ordered = [units[k] for k in sorted(units)]
        report.documents = len(ordered)
        report.sentences = sum(len(u.sentences) for u in ordered)
        report.chunks = sum(len(u.chunks) for u in ordered)
        if not ordered:
            report.seconds = time.perf_counter() - started
            return report
        same_sources = not derived and tuple(sorted(recorded or ())) == plan.recorded
        if not report.embedded and not report.removed and previous and same_sources:
            report.version = current
            report.note = "index is up to date: nothing changed, nothing published"
            collect_garbage(index_dir, config.keep_versions, grace_s=config.version_grace_s,
                            failpoint=failpoint)  # crash leftovers
            report.seconds = time.perf_counter() - started
            return report
        report.version = _publish(
            index_dir, ordered, encoder, config, settings, plan.recorded, failpoint)
        report.published = True
        collect_garbage(index_dir, config.keep_versions, grace_s=config.version_grace_s,
                        failpoint=failpoint)
    report.seconds = time.perf_counter() - started
    return report


def _publish(
    index_dir: Path, ordered: list[DocUnits], encoder: Encoder, config: IngestConfig,
    settings: BuildSettings, sources: tuple[Path, ...], failpoint: Failpoint | None,
) -> str:
    dim = encoder.identity.dim
    content = IndexContent(
        documents=[u.record for u in ordered],
        chunks=[c for u in ordered for c in u.chunks],
        sentences=[s for u in ordered for s in u.sentences],
        chunk_vectors=np.concatenate([u.chunk_vectors for u in ordered]).reshape(-1, dim),
        sentence_vectors=np.concatenate([u.sentence_vectors for u in ordered]).reshape(-1, dim),
        sentence_tokens=[t for u in ordered for t in u.sentence_tokens],
        chunk_tokens=[t for u in ordered for t in u.chunk_tokens],
    )
    documents = {
        u.record.doc_id: {
            "source_path": u.record.source_path,
            "content_sha256": u.record.content_sha256,
            "text_sha256": hashlib.sha256(u.record.text.encode()).hexdigest(),
        }
        for u in ordered
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": model_entry(encoder.identity),
        "settings": settings.as_dict(),
        "documents": documents,
        "counts": {
            "documents": len(content.documents),
            "chunks": len(content.chunks),
            "sentences": len(content.sentences),
        },
        "libraries": library_versions(),
        "probes": probe_entry(encoder),
        SOURCES_KEY: [str(p) for p in sources],
    }
    digest = hashlib.sha256(
        json.dumps([documents, manifest["model"], manifest["settings"], manifest[SOURCES_KEY]],
                   sort_keys=True).encode()
    ).hexdigest()
    return write_version(
        index_dir,
        content,
        manifest,
        chunk_dense=VectorIndex.build(content.chunk_vectors, config.faiss_factory),
        sentence_dense=VectorIndex.build(content.sentence_vectors, config.faiss_factory),
        chunk_bm25=LexicalIndex.build(content.chunk_tokens, k1=config.bm25_k1, b=config.bm25_b),
        sentence_bm25=LexicalIndex.build(
            content.sentence_tokens, k1=config.bm25_k1, b=config.bm25_b
        ),
        digest=digest,
        failpoint=failpoint,
    )
