"""File-system primitives of the index store: durable writes, failpoints, locks and reader leases.

A *failpoint* is an optional callable the store calls with the name of each step it is about to
take ("write .staging-ab12/chunks.faiss", "fsync ...", "rename ...", "replace .CURRENT.tmp CURRENT",
"fsync-dir ."). Production passes ``None``; the reliability tests pass one that raises ENOSPC, kills
the process or records the sequence, so every step can be faulted without global state.

A *lease* is a shared ``flock`` on ``<index_dir>/.leases/<version>``, held by a loaded snapshot for
its lifetime. Garbage collection takes the same lock exclusively (non-blocking) before removing a
version, so a version in use is never removed. Locks die with their process, so a crashed reader
or builder never leaves a version pinned or the index locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

Failpoint = Callable[[str], None]
LEASE_DIR = ".leases"
LOCK_FILE = ".lock"


class IndexBusy(Exception):
    """Another writer holds the index lock."""


class Steps:
    """Names each step, remembers the last (for error messages) and calls the failpoint."""

    def __init__(self, failpoint: Failpoint | None) -> None:
        self._failpoint = failpoint
        self.last = "start"

    def at(self, name: str) -> None:
        self.last = name
        if self._failpoint is not None:
            self._failpoint(name)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def write_file(path: Path, data: bytes, root: Path, steps: Steps) -> None:
    """Create ``path`` with ``data`` and fsync it (the directory entry is the caller's to sync)."""
    view = memoryview(data)
    half = len(view) // 2  # a crash or a full disk in the middle of a file

    def halves(append: Callable[[memoryview | bytes], None]) -> None:
        append(view[:half])
        append(view[half:])

    write_file_from(path, halves, root, steps)


def write_file_from(path: Path, produce: Callable[[Callable[[memoryview | bytes], None]], None],
                    root: Path, steps: Steps) -> None:
    """``write_file`` for data too large to hold: ``produce`` is called with a function that
    appends a block to the file. The same steps are named ("write-half" after the first block)."""
    rel = path.relative_to(root).as_posix()
    steps.at(f"write {rel}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        first = True

        def append(block: memoryview | bytes) -> None:
            nonlocal first
            _write_all(fd, memoryview(block))
            if first:
                first = False
                steps.at(f"write-half {rel}")

        produce(append)
        steps.at(f"fsync {rel}")
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_pointer(root: Path, pointer: str, target: str, sha256: str, steps: Steps) -> None:
    """Point the file ``pointer`` at ``target`` (a line "name sha256"), atomically: the line is
    written to ``.<pointer>.tmp`` and fsynced, then renamed over ``pointer``. The rename is the
    commit point; the directory entry is the caller's to sync."""
    tmp = root / f".{pointer}.tmp"
    write_file(tmp, f"{target} {sha256}\n".encode(), root, steps)
    steps.at(f"replace {tmp.name} {pointer}")
    os.replace(tmp, root / pointer)

@contextlib.contextmanager
def exclusive_lock(index_dir: Path) -> Iterator[None]:
    """The single-writer lock: a second writer fails at once with IndexBusy instead of racing."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusy(f"another ingest holds the lock on {index_dir}") from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lease_path(index_dir: Path, version: str) -> Path:
    return index_dir / LEASE_DIR / version


class VersionLease:
    """A held shared lock on one version; ``close()`` (or garbage collection) releases it."""

    def __init__(self, fd: int, version: str) -> None:
        self.version = version
        self._release = weakref.finalize(self, os.close, fd)

    @property
    def held(self) -> bool:
        return self._release.alive

    def close(self) -> None:
        self._release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def acquire_lease(index_dir: Path, version: str) -> VersionLease | None:
    """Take a shared lease on ``version`` (blocking only while a GC pass holds it exclusively).

    Returns None where no lease file can be created (a read-only or full disk): serving goes on,
    and as a loaded snapshot lives in memory, a GC pass can at worst remove its files, not break
    it. The caller must still check that the version exists: GC may have removed it just before.
    """
    path = lease_path(index_dir, version)
    for _ in range(100):
        try:
            path.parent.mkdir(exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_SH)
        if _same_file(fd, path):  # GC unlinks the lease file after removing the version
            return VersionLease(fd, version)
        os.close(fd)
    raise OSError(errno.EAGAIN, f"could not lease index version {version}")


def try_exclusive_lease(index_dir: Path, version: str) -> int | None:
    """For GC: the lease file's descriptor locked exclusively, or None while a reader holds it."""
    path = lease_path(index_dir, version)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def finish_stream(fh: BinaryIO, rel: str, steps: Steps) -> None:
    """Flush, fsync and close a file written as a stream into a staging version."""
    fh.flush()
    steps.at(f"fsync {rel}")
    os.fsync(fh.fileno())
    fh.close()


def abandon_stream(fh: BinaryIO) -> None:
    """Close a stream whose file is being thrown away (flushing it may fail: that is fine)."""
    with contextlib.suppress(OSError):
        fh.close()
