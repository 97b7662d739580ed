"""Ingest: files -> documents -> sentences and chunks -> embeddings -> a published index version.

Incremental by content: a document whose file bytes are unchanged keeps its records and vectors
from the current version; only new or changed files are segmented and embedded. Each document is
embedded in its own ``encode`` call, so its vectors never depend on what else is in the batch and an
incremental build is byte-identical to a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .chunk import chunk_sentences
from .durable import Failpoint
from .embed import Encoder
from .lexical import TOKENIZER_VERSION, LexicalIndex, join_line_hyphens, tokenize
from .loaders import discover, load_document
from .manifest import (
    FORMAT_VERSION,
    BuildSettings,
    IndexCorrupt,
    IndexMismatch,
    check_compatible,
    library_versions,
    model_entry,
    probe_entry,
)
from .records import Chunk, DocumentRecord, LoadError, Sentence
from .segment import SEGMENTER_VERSION, split_sentences
from .store import (
    IndexContent,
    IndexNotFound,
    IndexSnapshot,
    collect_garbage,
    load_snapshot,
    write_version,
    writer_lock,
)
from .vectors import VectorIndex


@dataclass(frozen=True)
class IngestConfig:
    chunk_size: int = 1000
    chunk_overlap: int = 150
    faiss_factory: str = "Flat"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    max_file_bytes: int = 50_000_000
    keep_versions: int = 3

    def build_settings(self) -> BuildSettings:
        return BuildSettings(
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            segmenter=SEGMENTER_VERSION,
            tokenizer=TOKENIZER_VERSION,
            faiss_factory=self.faiss_factory,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
        )


@dataclass
class IngestReport:
    version: str | None = None
    published: bool = False
    embedded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[LoadError] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    seconds: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class _DocUnits:
    """One document's share of the index: records, vectors and tokens."""

    record: DocumentRecord
    sentences: list[Sentence]
    chunks: list[Chunk]
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray
    sentence_tokens: list[list[str]]
    chunk_tokens: list[list[str]]


def build_units(record: DocumentRecord, skip, config: IngestConfig, encoder: Encoder) -> _DocUnits:
    """Segment, chunk, tokenize and embed one document."""
    text = record.text
    spans = split_sentences(text, skip)
    ranges = chunk_sentences(text, spans, config.chunk_size, config.chunk_overlap)
    owner = [0] * len(spans)
    for ordinal, (first, last) in reversed(list(enumerate(ranges))):
        for i in range(first, last):
            owner[i] = ordinal  # the first chunk that holds a sentence owns it
    sentences = [
        Sentence(
            id=f"{record.doc_id}:s{i}", doc_id=record.doc_id, ordinal=i, start=s.start,
            end=s.end, text=text[s.start : s.end], role=s.role, chunk_ordinal=owner[i],
        )
        for i, s in enumerate(spans)
    ]
    chunks = [
        Chunk(
            id=f"{record.doc_id}:c{i}", doc_id=record.doc_id, ordinal=i,
            start=spans[first].start, end=spans[last - 1].end,
            text=text[spans[first].start : spans[last - 1].end],
            first_sentence=first, last_sentence=last,
        )
        for i, (first, last) in enumerate(ranges)
    ]
    # The model reads hyphenated line breaks joined, as BM25 does (the text itself stays exact).
    units = [s.text for s in sentences] + [c.text for c in chunks]
    vectors = encoder.encode([join_line_hyphens(u) for u in units])
    return _DocUnits(
        record=record,
        sentences=sentences,
        chunks=chunks,
        sentence_vectors=vectors[: len(sentences)],
        chunk_vectors=vectors[len(sentences) :],
        sentence_tokens=[tokenize(s.text) for s in sentences],
        chunk_tokens=[tokenize(c.text) for c in chunks],
    )


def _units_from_snapshot(snapshot: IndexSnapshot) -> dict[str, _DocUnits]:
    content = snapshot.content
    out: dict[str, _DocUnits] = {}
    s_at = c_at = 0
    for record in content.documents:
        s_end = s_at
        while s_end < len(content.sentences) and content.sentences[s_end].doc_id == record.doc_id:
            s_end += 1
        c_end = c_at
        while c_end < len(content.chunks) and content.chunks[c_end].doc_id == record.doc_id:
            c_end += 1
        out[record.doc_id] = _DocUnits(
            record=record,
            sentences=content.sentences[s_at:s_end],
            chunks=content.chunks[c_at:c_end],
            sentence_vectors=content.sentence_vectors[s_at:s_end],
            chunk_vectors=content.chunk_vectors[c_at:c_end],
            sentence_tokens=content.sentence_tokens[s_at:s_end],
            chunk_tokens=content.chunk_tokens[c_at:c_end],
        )
        s_at, c_at = s_end, c_end
    return out


def _reusable_previous(
    index_dir: Path, encoder: Encoder, settings: BuildSettings
) -> tuple[dict[str, _DocUnits], str, str | None]:
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
        return _units_from_snapshot(snapshot), "", snapshot.version


def _sha256_bytes(path: Path, max_bytes: int) -> str:
    """The file's sha256; "" for a file over the size limit, which the loader refuses without
    reading it (hashing it first would read a file of any size into memory)."""
    if path.stat().st_size > max_bytes:
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ingest(
    paths: list[Path], index_dir: Path, encoder: Encoder, config: IngestConfig | None = None,
    *, progress: bool = True, failpoint: Failpoint | None = None,
) -> IngestReport:
    """Build or update the index from ``paths``; publish a version only when something changed.

    Raises IndexBusy when another ingest holds the lock, PublishFailed when the disk refuses the
    new version (the current one is then untouched). ``failpoint`` is for fault-injection tests.
    """
    config = config or IngestConfig()
    started = time.perf_counter()
    report = IngestReport()
    settings = config.build_settings()
    with writer_lock(index_dir):
        previous, report.note, current = _reusable_previous(index_dir, encoder, settings)
        units: dict[str, _DocUnits] = {}
        files = discover(paths)
        bar = tqdm(files, desc="ingest", unit="file", file=sys.stderr, disable=not progress)
        for path in bar:
            doc_id = path.stem
            try:
                if doc_id in units:
                    raise LoadError(str(path), f"duplicate document id {doc_id!r}")
                sha = _sha256_bytes(path, config.max_file_bytes) if path.is_file() else ""
                old = previous.get(doc_id)
                if old is not None and old.record.content_sha256 == sha:
                    units[doc_id] = old
                    report.reused.append(doc_id)
                    continue
                loaded = load_document(path, max_bytes=config.max_file_bytes)
                record = DocumentRecord(
                    doc_id=doc_id, title=loaded.title, url=loaded.url, date=loaded.date,
                    source_path=str(path), content_sha256=sha, text=loaded.text,
                )
                built = build_units(record, loaded.skip, config, encoder)
                if not built.sentences:
                    raise LoadError(str(path), "no sentences found after removing boilerplate")
                units[doc_id] = built
                report.embedded.append(doc_id)
            except LoadError as exc:
                report.skipped.append(exc)
            except OSError as exc:
                report.skipped.append(LoadError(str(path), f"cannot read ({exc.strerror})"))
        report.removed = sorted(set(previous) - set(units))
        ordered = [units[k] for k in sorted(units)]
        report.documents = len(ordered)
        report.sentences = sum(len(u.sentences) for u in ordered)
        report.chunks = sum(len(u.chunks) for u in ordered)
        if not ordered:
            report.seconds = time.perf_counter() - started
            return report
        if not report.embedded and not report.removed and previous:
            report.version = current
            report.note = "index is up to date: nothing changed, nothing published"
            collect_garbage(index_dir, config.keep_versions, failpoint=failpoint)  # crash leftovers
            report.seconds = time.perf_counter() - started
            return report
        report.version = _publish(index_dir, ordered, encoder, config, settings, failpoint)
        report.published = True
        collect_garbage(index_dir, config.keep_versions, failpoint=failpoint)
    report.seconds = time.perf_counter() - started
    return report


def _publish(
    index_dir: Path, ordered: list[_DocUnits], encoder: Encoder, config: IngestConfig,
    settings: BuildSettings, failpoint: Failpoint | None,
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
    }
    digest = hashlib.sha256(
        json.dumps([documents, manifest["model"], manifest["settings"]], sort_keys=True).encode()
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
