"""The real-documentation question set's corpus: documents that Debian packages install under
/usr/share/doc, listed with their sha256 in ``eval/docs/corpus.json`` and read in place (this
repository holds their questions, not their text). ``materialize`` copies them, verified, into
one folder under the names the questions cite, so ``citeqa ingest`` sees an ordinary collection.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "docs" / "corpus.json"


class DocsCorpusUnavailable(RuntimeError):
    """A listed document is missing on this machine, or differs from the one the questions were
    written against (another package version): the figures would not be comparable."""


@dataclass(frozen=True)
class DocsEntry:
    name: str  # file name in the collection; its stem is the document id questions cite
    source: Path
    sha256: str
    split: str


def read_manifest(path: Path = MANIFEST) -> list[DocsEntry]:
    rows = json.loads(path.read_text(encoding="utf-8"))["documents"]
    return [DocsEntry(name=r["name"], source=Path(r["source"]), sha256=r["sha256"],
                      split=r["split"]) for r in rows]


def materialize(target: Path, manifest: Path = MANIFEST) -> Path:
    """``target`` holding exactly the manifest's documents, each checked against its sha256.
    Files already there with the right content are left alone (the index stays incremental)."""
    entries = read_manifest(manifest)
    problems = []
    for entry in entries:
        if not entry.source.is_file():
            problems.append(f"{entry.source}: missing")
        elif _sha256(entry.source) != entry.sha256:
            problems.append(f"{entry.source}: differs from the version the questions were "
                            "written against")
    if problems:
        raise DocsCorpusUnavailable("; ".join(problems))
    target.mkdir(parents=True, exist_ok=True)
    wanted = {e.name for e in entries}
    for stale in target.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    for entry in entries:
        copy = target / entry.name
        if not copy.is_file() or _sha256(copy) != entry.sha256:
            shutil.copyfile(entry.source, copy)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
