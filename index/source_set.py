"""Which sources (folders and files) an index is built from, and how one ingest changes them.

The index records its sources in each version's manifest, so ``citeqa ingest mydocs`` adds a
folder instead of silently dropping every document that is not named again. Every recorded source
is re-read on each ingest, so changed and deleted files anywhere are still noticed. A recorded
source that no longer exists (an unmounted share, a renamed folder) keeps its documents until it
is removed or replaced explicitly: a missing disk must never empty the index by accident.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .layout import read_current
from .manifest import (
    MANIFEST_NAME,
    SOURCE_FORMATS,
    IndexCorrupt,
    IndexMismatch,
    parse_manifest,
    recorded_sources,
)

SourceStatus = Literal["recorded", "new", "missing", "dropped"]


class SourceError(Exception):
    """A request about sources that cannot be carried out (a usage error)."""


@dataclass(frozen=True)
class SourcePlan:
    """What one ingest reads: ``read`` exists and is walked; ``missing`` was recorded but is gone
    (its documents are kept); ``dropped`` leaves the index with its documents."""

    read: tuple[Path, ...]
    missing: tuple[Path, ...] = ()
    dropped: tuple[Path, ...] = ()
    new: tuple[Path, ...] = ()
    derived: bool = False  # the index predates recorded sources: they came from its documents

    @property
    def recorded(self) -> tuple[Path, ...]:
        """The sources the published version records, sorted."""
        return tuple(sorted({*self.read, *self.missing}))

    def status(self, source: Path) -> SourceStatus:
        if source in self.dropped:
            return "dropped"
        if source in self.missing:
            return "missing"
        return "new" if source in self.new else "recorded"


def absolute(path: Path | str) -> Path:
    # abspath, not realpath: a symlinked folder keeps its name, and its links are judged as now.
    return Path(os.path.abspath(path))


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(paths))


def plan_sources(
    recorded: Sequence[Path] | None, given: Sequence[Path], *, remove: Sequence[Path] = (),
    replace: bool = False, default: Sequence[Path] = (), derived: bool = False,
) -> SourcePlan:
    """The sources after adding ``given`` to ``recorded`` (or replacing them with it, with
    ``replace``) and taking ``remove`` away. No paths at all re-reads what is recorded, or
    ``default`` for an index that records nothing yet."""
    given = _unique(absolute(p) for p in given)
    remove = _unique(absolute(p) for p in remove)
    before = _unique(absolute(p) for p in recorded or ())
    if replace and remove:
        raise SourceError("--replace and --remove cannot be combined")
    if replace and not given:
        raise SourceError("--replace needs the paths that are to be the only sources")
    unknown = [p for p in remove if p not in before]
    if unknown:
        known = ", ".join(map(str, before)) or "none"
        raise SourceError(f"{unknown[0]} is not a source of the index (its sources: {known})")
    if replace:
        after = given
    elif not before and not given and not remove:
        after = _unique(absolute(p) for p in default)
    else:
        after = _unique(p for p in (*before, *given) if p not in remove)
    if not after:
        raise SourceError("that would leave the index with no sources; name a path to ingest")
    missing = tuple(p for p in after if p in before and p not in given and not p.exists())
    return SourcePlan(
        read=tuple(p for p in after if p not in missing),
        missing=missing,
        dropped=tuple(p for p in before if p not in after),
        new=tuple(p for p in after if p not in before),
        derived=derived,
    )


def sources_of_manifest(manifest: dict[str, Any]) -> tuple[tuple[Path, ...], bool]:
    """The manifest's recorded sources, or for an older manifest each document's file (so an
    upgrade loses nothing), and whether they were derived that way."""
    recorded = recorded_sources(manifest)
    if recorded is not None:
        return tuple(Path(s) for s in recorded), False
    documents = manifest.get("documents")
    files = [
        str(entry["source_path"]) for entry in (documents or {}).values()
        if isinstance(entry, dict) and isinstance(entry.get("source_path"), str)
    ] if isinstance(documents, dict) else []
    return tuple(sorted({absolute(f) for f in files})), True


def current_sources(index_dir: Path) -> tuple[tuple[Path, ...] | None, bool]:
    """The sources the current version records (None: no usable index yet), read from its
    manifest alone so the command line can check paths before loading the model."""
    try:
        pointer = read_current(index_dir)
        if pointer is None:
            return None, False
        where = index_dir / pointer[0]
        manifest = parse_manifest((where / MANIFEST_NAME).read_bytes(), pointer[0],
                                  SOURCE_FORMATS)  # an older format's sources still count
    except (IndexCorrupt, IndexMismatch, OSError):
        return None, False  # rebuilt from the paths given, as before
    return sources_of_manifest(manifest)


def owner(path: Path, sources: Sequence[Path]) -> Path | None:
    """The most specific source ``path`` lies in (a file source owns itself)."""
    best: Path | None = None
    for source in sources:
        if (path == source or path.is_relative_to(source)) and (
            best is None or len(source.parts) > len(best.parts)
        ):
            best = source
    return best
