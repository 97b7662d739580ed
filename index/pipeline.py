"""Ingest: files -> documents -> sentences and chunks -> embeddings -> a published index version.

Streaming and bounded: every source is read once and hashed (nothing else kept), then documents
are taken in id order and each one's records, vectors and tokens are appended to the staging
version as soon as it is embedded (``store.stage_version``); BM25 and FAISS are built from those
files a block at a time. Peak memory is one document plus the vocabulary, whatever the collection.

Incremental by content: a document whose file bytes are unchanged keeps its records and vectors
from the current version, read from it one document at a time; only new or changed files are
segmented and embedded. Each document is embedded in its own ``encode`` call, so its vectors never
depend on what else is in the batch and an incremental build is byte-identical to a fresh one.

One bad file never stops an ingest: whatever goes wrong while reading, parsing or segmenting it
(including a per-file time limit) is reported in ``IngestReport.skipped`` and the rest go on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .ahead import Ahead, Planned, WorkerCrashed
from .config import IngestConfig as IngestConfig  # its home is index.config (light)
from .deadline import Deadline
from .durable import Failpoint
from .embed import Encoder
from .ingest_progress import IngestProgress
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
from .records import DocumentRecord, DocUnits, LoadError
from .source_report import SourceSummary, summarise
from .source_set import SourcePlan, absolute, current_sources, owner, plan_sources
from .sources import Source, find_sources, read_source
from .store import (
    IndexNotFound,
    PreviousVersion,
    collect_garbage,
    open_previous,
    stage_version,
    writer_lock,
)
from .units import Segmented, embed_documents, embed_units, segment_record


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
) -> tuple[PreviousVersion | None, str, str | None]:
    """The current version, opened to reuse its documents if it was built the same way, else
    nothing (and why), and the current version's name when it verified."""
    try:
        previous = open_previous(index_dir)
    except IndexNotFound:
        return None, "", None
    except (IndexCorrupt, IndexMismatch) as exc:
        return None, f"rebuilding everything: the current index cannot be reused ({exc})", None
    try:
        check_compatible(previous.manifest, encoder.identity, settings.tokenizer, encoder=encoder)
    except IndexMismatch as exc:
        previous.close()
        return None, f"rebuilding everything: the current index cannot be reused ({exc})", None
    if previous.manifest.get("settings") != settings.as_dict():
        previous.close()
        return None, "rebuilding everything: build settings changed", previous.version
    return previous, "", previous.version


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


def load_and_segment(source: Source, data: bytes, sha: str, config: IngestConfig) -> Segmented:
    """``_load_and_segment`` for ingest drivers outside this module (a cluster segments files
    in its own workers and must cut them exactly as this ingest does)."""
    return _load_and_segment(source, data, sha, config)


def _segment_file(job: tuple[Source, IngestConfig]) -> Segmented:
    """Read, parse and segment one file: what the loader processes do ahead of the encoder."""
    source, config = job
    data = read_source(source.path, source.root, config.max_file_bytes)
    return _load_and_segment(source, data, hashlib.sha256(data).hexdigest(), config)


# Starting loader processes costs about as much as parsing a handful of files.
_MIN_FILES_FOR_LOADERS = 16
# How far the loaders may run ahead of the encoder: files, and their bytes on disk.
_AHEAD_FILES_PER_LOADER = 8
_AHEAD_BYTES = 64 * 2**20
# Documents with fewer texts than this are embedded several at a time (each with the vectors it
# would get alone) until a group holds this many: one small document cannot keep the encoder's
# workers busy.
_GROUP_TEXTS = 64


def _segmenter(reads: dict[str, list[_Read]], known: dict[str, str],
               config: IngestConfig) -> Ahead[int, tuple[Source, IngestConfig], Segmented]:
    """The files the document pass may embed, in the order it reaches them, segmented ahead."""
    planned = [Planned(read.order, (read.source, config), _size(read.source))
               for doc_id in sorted(reads) for read in reads[doc_id]
               if read.error is None and known.get(doc_id) != read.sha]
    loaders = config.loaders if len(planned) >= _MIN_FILES_FOR_LOADERS else 0
    return Ahead(_segment_file, planned, loaders,
                 window=max(1, loaders) * _AHEAD_FILES_PER_LOADER, window_bytes=_AHEAD_BYTES)


@dataclass(frozen=True)
class _Read:
    """One source file as the first pass found it: its bytes' sha256, or why it cannot be read.
    ``order`` is its place among the sources (reports list files in that order)."""

    order: int
    source: Source
    sha: str | None = None
    error: LoadError | None = None


def _read_all(sources: Sequence[Source], config: IngestConfig) -> dict[str, list[_Read]]:
    """Every source read once and hashed (its bytes are not kept), by document id."""
    out: dict[str, list[_Read]] = {}
    for order, source in enumerate(sources):
        try:
            data = read_source(source.path, source.root, config.max_file_bytes)
            read = _Read(order, source, sha=hashlib.sha256(data).hexdigest())
        except LoadError as exc:
            read = _Read(order, source, error=exc)
        out.setdefault(source.path.stem, []).append(read)
    return out


def _needs_embedding(reads: dict[str, list[_Read]], known: dict[str, str]) -> bool:
    """Whether some document's first readable file is new or changed (``known``: doc id ->
    content sha256 of the documents that can be reused)."""
    for doc_reads in reads.values():
        first = next((r for r in doc_reads if r.error is None), None)
        if first is not None and known.get(first.source.path.stem) != first.sha:
            return True
    return False


@dataclass
class _Outcome:
    """What happened to each document, with the source order of the file behind it."""

    embedded: list[tuple[int, str]] = field(default_factory=list)
    reused: list[tuple[int, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: list[tuple[int, LoadError]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # doc id -> its source path now


class _Actions:
    """What the document pass does with each decision; this base only decides (a dry run)."""

    def begin(self, read: _Read) -> None: ...
    def passed(self) -> None: ...
    def reuse(self, doc_id: str, path: Path) -> None: ...
    def keep(self, doc_id: str) -> None: ...
    def done(self) -> None: ...

    def embed(self, read: _Read) -> None:
        raise AssertionError("a dry run never embeds")


class _Stage(_Actions):
    """Appends each document to the version being staged, with progress on the bar."""

    def __init__(self, add: Callable[[DocUnits], None], previous: PreviousVersion | None,
                 encoder: Encoder, segmented: Ahead[int, tuple[Source, IngestConfig], Segmented],
                 shown: IngestProgress) -> None:
        self._add, self._previous, self._encoder = add, previous, encoder
        self._segmented, self._shown = segmented, shown
        self._group: list[Segmented] = []  # small documents waiting to be embedded together
        self._group_texts = 0

    def begin(self, read: _Read) -> None:
        self._shown.begin(read.source.path.name, _size(read.source))

    def passed(self) -> None:
        self._shown.passed()

    def _old(self, doc_id: str) -> DocUnits:
        found = self._previous.units.get(doc_id) if self._previous else None
        if found is None:
            raise IndexCorrupt(f"{doc_id!r} is in the manifest but not in documents.jsonl")
        return found

    def reuse(self, doc_id: str, path: Path) -> None:
        old = self._old(doc_id)
        self.done()  # documents are added in order
        # Where it is now: a file moved between sources is attributed to the new one.
        self._add(replace(old, record=replace(old.record, source_path=str(path))))
        self._shown.passed()

    def keep(self, doc_id: str) -> None:
        old = self._old(doc_id)
        self.done()
        self._add(old)

    def embed(self, read: _Read) -> None:
        source = read.source
        try:
            segmented = self._segmented.result(read.order)
        except WorkerCrashed:
            raise LoadError(str(source.path), "could not be loaded (its parser crashed the "
                            "loader process)") from None
        self._shown.measured(source.path.name, len(segmented.record.text))
        texts = len(segmented.sentences) + len(segmented.chunks)
        if texts >= _GROUP_TEXTS:
            self.done()
            self._add(embed_units(segmented, self._encoder, self._shown.embedded))
            self._shown.finished()
            return
        self._group.append(segmented)
        self._group_texts += texts
        self._shown.finished()  # counted as it joins its group: the bar leads by one group at most
        if self._group_texts >= _GROUP_TEXTS:
            self.done()

    def done(self) -> None:
        """Embed and add the small documents waiting in the group."""
        group, self._group, self._group_texts = self._group, [], 0
        for units in embed_documents(group, self._encoder) if group else ():
            self._add(units)


def _documents(reads: dict[str, list[_Read]], known: dict[str, str],
               previous_paths: dict[str, str], plan: SourcePlan, act: _Actions) -> _Outcome:
    """Each document in id order: the first of its files that loads (unchanged: reused), or, when
    none does and its source is missing, its previous version kept; later files with the same id
    are duplicates."""
    out = _Outcome()
    for doc_id in sorted(reads.keys() | previous_paths.keys()):
        for read in reads.get(doc_id, ()):
            path = read.source.path
            act.begin(read)
            if doc_id in out.paths:
                out.skipped.append((read.order, LoadError(
                    str(path), f"duplicate document id {doc_id!r}")))
                act.passed()
            elif read.error is not None:
                out.skipped.append((read.order, read.error))
                act.passed()
            elif known.get(doc_id) == read.sha:
                act.reuse(doc_id, path)
                out.reused.append((read.order, doc_id))
                out.paths[doc_id] = str(path)
            else:
                try:
                    act.embed(read)
                except LoadError as exc:
                    out.skipped.append((read.order, exc))
                    act.passed()
                    continue
                out.embedded.append((read.order, doc_id))
                out.paths[doc_id] = str(path)
        old_path = previous_paths.get(doc_id)
        if doc_id not in out.paths and old_path and owner(absolute(old_path), plan.missing):
            act.keep(doc_id)  # its source is gone for now: keep it until told to drop it
            out.kept.append(doc_id)
            out.paths[doc_id] = old_path
    act.done()
    return out


def _in_order(items: list[tuple[int, str]]) -> list[str]:
    return [doc_id for _, doc_id in sorted(items)]


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
        try:
            _ingest_into(report, index_dir, plan, previous, current, derived,
                         recorded, encoder, config, settings, progress, failpoint)
        finally:
            if previous is not None:
                previous.close()
    report.seconds = time.perf_counter() - started
    return report


def _ingest_into(
    report: IngestReport, index_dir: Path, plan: SourcePlan, previous: PreviousVersion | None,
    current: str | None, derived: bool, recorded: tuple[Path, ...] | None, encoder: Encoder,
    config: IngestConfig, settings: BuildSettings, progress: bool, failpoint: Failpoint | None,
) -> None:
    entries = previous.manifest.get("documents", {}) if previous else {}
    known = {doc_id: e["content_sha256"] for doc_id, e in entries.items()}
    previous_paths = {doc_id: e["source_path"] for doc_id, e in entries.items()}
    if derived and previous:
        report.note = (f"the index recorded no sources (an older citeqa built it): its "
                       f"{len(plan.recorded)} files are now its sources")
    sources = find_sources(plan.read, follow_external_symlinks=config.follow_external_symlinks)
    reads = _read_all(sources, config)
    same_sources = not derived and tuple(sorted(recorded or ())) == plan.recorded

    def summarise_into(outcome: _Outcome) -> None:
        report.embedded, report.reused = _in_order(outcome.embedded), _in_order(outcome.reused)
        report.kept = outcome.kept
        report.skipped = [error for _, error in sorted(outcome.skipped, key=lambda e: e[0])]
        report.removed = sorted(previous_paths.keys() - outcome.paths.keys())
        report.sources = summarise(plan, report.embedded, report.reused, report.kept,
                                   report.removed, {**previous_paths, **outcome.paths},
                                   previous_paths.keys())

    def up_to_date() -> bool:
        if report.embedded or report.removed or previous is None or not same_sources:
            return False
        report.version = current
        report.note = "index is up to date: nothing changed, nothing published"
        return True

    if previous is not None and not _needs_embedding(reads, known):
        summarise_into(_documents(reads, known, previous_paths, plan, _Actions()))
        if up_to_date():  # every document reused or kept: the counts are the current version's
            shown = _progress(reads, progress)
            for doc_reads in reads.values():
                for read in doc_reads:  # no work done: every file leaves the total
                    shown.begin(read.source.path.name, _size(read.source))
                    shown.passed()
            shown.close()
            counts = previous.manifest.get("counts", {})
            report.documents = counts.get("documents", 0)
            report.sentences, report.chunks = counts.get("sentences", 0), counts.get("chunks", 0)
            _collect(index_dir, config, failpoint)  # crash leftovers
            return
    with stage_version(index_dir, encoder.identity.dim, failpoint) as staged:
        writer = staged.writer
        shown = _progress(reads, progress)
        try:
            with _segmenter(reads, known, config) as segmented:
                outcome = _documents(reads, known, previous_paths, plan,
                                     _Stage(lambda u: writer.add(u.record, u), previous,
                                            encoder, segmented, shown))
        finally:
            shown.close()
        summarise_into(outcome)
        report.documents = len(writer.documents)
        report.sentences, report.chunks = writer.sentences, writer.chunks
        if not writer.documents:
            return  # nothing usable: leaving without publishing removes what was staged
        if not up_to_date():
            report.version = staged.publish(
                _manifest(writer.documents, report, encoder, settings, plan), _digest(
                    writer.documents, encoder, settings, plan),
                faiss_factory=config.faiss_factory, bm25_k1=config.bm25_k1, bm25_b=config.bm25_b)
            report.published = True
    _collect(index_dir, config, failpoint)


def _progress(reads: dict[str, list[_Read]], enabled: bool) -> IngestProgress:
    return IngestProgress([_size(r.source) for rs in reads.values() for r in rs], enabled=enabled)


def _collect(index_dir: Path, config: IngestConfig, failpoint: Failpoint | None) -> None:
    collect_garbage(index_dir, config.keep_versions, grace_s=config.version_grace_s,
                    failpoint=failpoint)


def _manifest(documents: dict[str, dict[str, str]], report: IngestReport, encoder: Encoder,
              settings: BuildSettings, plan: SourcePlan) -> dict[str, object]:
    """The manifest of a new version, less what the store adds (file checksums, dense search)."""
    return {
        "format_version": FORMAT_VERSION,
        "model": model_entry(encoder.identity),
        "settings": settings.as_dict(),
        "documents": documents,
        "counts": {"documents": report.documents, "chunks": report.chunks,
                   "sentences": report.sentences},
        "libraries": library_versions(),
        "probes": probe_entry(encoder),
        SOURCES_KEY: [str(p) for p in plan.recorded],
    }


def _digest(documents: dict[str, dict[str, str]], encoder: Encoder, settings: BuildSettings,
            plan: SourcePlan) -> str:
    """What names a version: its documents and how it was built."""
    return hashlib.sha256(json.dumps(
        [documents, model_entry(encoder.identity), settings.as_dict(),
         [str(p) for p in plan.recorded]], sort_keys=True).encode()).hexdigest()
