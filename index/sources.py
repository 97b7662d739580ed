"""Which files an ingest reads, and reading them safely.

A folder can hold more than documents: a symlink to ``/etc/passwd`` named ``passwd.txt``, a named
pipe that blocks whoever opens it, a device. By default a link is followed only while its target
stays inside the folder being ingested (a file named on the command line counts as its own
folder); ``follow_external_symlinks`` lifts that. Only regular files are read, and a file is
checked after its path is resolved and again after it is opened (without blocking), so swapping it
for a pipe in between cannot hang the ingest.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .records import LoadError

TEXT_SUFFIXES = frozenset({".txt"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
SUPPORTED_SUFFIXES = (
    TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES
)
SIDECAR_SUFFIX = ".meta.json"

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_OPEN_FINAL = _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0)  # the resolved path has no link left


@dataclass(frozen=True)
class Source:
    """A file to ingest: its path as found (a link keeps its own name, which gives the doc_id)
    and the resolved folder its target must stay in (None: links are followed anywhere)."""

    path: Path
    root: Path | None

    @classmethod
    def named(cls, path: Path, *, follow_external_symlinks: bool = False) -> Source:
        """A file named on its own: the folder it sits in is the one it must stay in."""
        root = None if follow_external_symlinks else Path(os.path.realpath(path.parent))
        return cls(path, root)


def _is_candidate(name: str) -> bool:
    lowered = name.lower()
    return (
        not name.startswith(".")
        and not lowered.endswith(SIDECAR_SUFFIX)
        and Path(lowered).suffix in SUPPORTED_SUFFIXES
    )


def find_sources(paths: Sequence[Path], *, follow_external_symlinks: bool = False) -> list[Source]:
    """Files under ``paths`` (files, or folders walked recursively) named as a supported type,
    sorted by path, unique.

    Hidden files and folders and ``*.meta.json`` sidecars are passed over. Anything else with a
    supported name is returned even when it is not a regular file (a pipe, a dangling link), so
    that ingest reports it with a reason instead of passing over it in silence. A path that does
    not exist, or a file named explicitly that is not a supported type, raises ``LoadError``.
    """
    found: dict[Path, Source] = {}
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise LoadError(str(given), "no such file or directory")
        if not given.is_dir():
            if not _is_candidate(given.name):
                raise LoadError(str(given), f"unsupported file type {given.suffix or '(none)'!r}")
            found.setdefault(
                given, Source.named(given, follow_external_symlinks=follow_external_symlinks)
            )
            continue
        root = None if follow_external_symlinks else Path(os.path.realpath(given))
        # os.walk does not follow symlinked folders, so a link cycle cannot loop for ever.
        for folder, dirnames, filenames in os.walk(given):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if _is_candidate(name):
                    path = Path(folder) / name
                    known = found.get(path)
                    # Reached from two given folders: the outer one decides what is inside.
                    if known is None or _wider(root, known.root):
                        found[path] = Source(path, root)
    return [found[p] for p in sorted(found)]


def _wider(root: Path | None, other: Path | None) -> bool:
    return other is not None and (root is None or other.is_relative_to(root))


def discover(paths: Sequence[Path]) -> list[Path]:
    """The paths ``find_sources`` returns (see there)."""
    return [source.path for source in find_sources(paths)]


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise LoadError(str(path), f"cannot read ({_kind(mode)}, not a regular file)")


def _resolve(path: Path, root: Path | None) -> Path:
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:  # dangling, a loop, a folder we may not enter
        raise LoadError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if root is not None and not real.is_relative_to(root):
        raise LoadError(
            str(path),
            f"a symlink to {real}, outside the ingested folder {root}: not followed "
            "(--follow-external-symlinks follows it)",
        )
    return real


def read_source(path: Path, root: Path | None, max_bytes: int) -> bytes:
    """The bytes of ``path`` when it is (or links to) a regular file inside ``root`` of at most
    ``max_bytes``; else ``LoadError`` saying why. Never blocks on a pipe or device."""
    real = _resolve(path, root)
    try:
        info = os.stat(real)
        _check_regular(path, info.st_mode)
        if info.st_size > max_bytes:
            raise LoadError(
                str(path), f"too large ({info.st_size:,} bytes; the limit is {max_bytes:,})"
            )
        with os.fdopen(os.open(real, _OPEN_FINAL), "rb") as fh:
            # What was opened, had the path been swapped for a pipe since stat().
            _check_regular(path, os.fstat(fh.fileno()).st_mode)
            data = fh.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise LoadError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise LoadError(str(path), f"too large (over {max_bytes:,} bytes)")
    return data


def sidecar_for(path: Path) -> Path | None:
    """The metadata file beside ``path``: "x.md.meta.json" names one file exactly,
    "x.meta.json" matches the doc_id (the stem). Any kind of file counts, so that a sidecar that
    cannot be read is reported rather than ignored."""
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX),
                      path.with_name(path.stem + SIDECAR_SUFFIX)):
        if os.path.lexists(candidate):
            return candidate
    return None
