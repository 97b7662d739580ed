"""What one ingest did to each source: documents added, changed, reused, kept and removed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .source_set import SourcePlan, SourceStatus, absolute, owner


@dataclass(frozen=True)
class SourceSummary:
    """What one ingest did to the documents of one source (a folder or file, absolute)."""

    path: str
    status: SourceStatus
    added: int = 0
    changed: int = 0
    reused: int = 0
    kept: int = 0  # documents of a missing source, kept from the previous version
    removed: int = 0



def summarise(
    plan: SourcePlan, embedded: Sequence[str], reused: Sequence[str], kept: Sequence[str],
    removed: Sequence[str], paths: Mapping[str, str], previous: Collection[str],
) -> list[SourceSummary]:
    """One summary per recorded or dropped source; a document counts for the most specific
    source its file lies in (``paths``: the file of every document now and before)."""
    everything = (*plan.recorded, *plan.dropped)
    counts: dict[Path, dict[str, int]] = {p: {} for p in everything}
    for kind, ids in (("reused", reused), ("kept", kept), ("removed", removed)):
        for doc_id in ids:
            _count(counts, everything, paths[doc_id], kind)
    for doc_id in embedded:
        _count(counts, everything, paths[doc_id], "changed" if doc_id in previous else "added")
    return [SourceSummary(str(p), plan.status(p), **counts[p]) for p in everything]


def _count(
    counts: dict[Path, dict[str, int]], sources: Sequence[Path], path: str, kind: str
) -> None:
    source = owner(absolute(path), sources)
    if source is not None:
        counts[source][kind] = counts[source].get(kind, 0) + 1
