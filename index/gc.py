"""Garbage collection of old versions and of what crashed writers left behind.

A version is removed only while its lease can be taken exclusively (no reader holds it), and is
first renamed to ``.trash-<version>`` so that no reader can ever open a half-deleted version by
name. The caller holds the writer lock.

Answers cite the version they were read from, and a citation is resolved against that version's
text (``GET /v1/documents/{id}?version=``), so a superseded version is worth keeping a while:
``grace_s`` keeps every version superseded less than that long ago. A version's superseded time
is when its successor's manifest was written, which is just before that successor was published.
Each removed version's name is appended to ``.collected`` so that a citation naming it can be
told "gone" rather than "never existed".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from .durable import LEASE_DIR, Failpoint, Steps, fsync_dir, lease_path, try_exclusive_lease
from .layout import (
    COLLECTED,
    CURRENT,
    CURRENT_TMP,
    STAGING_PREFIX,
    TRASH_PREFIX,
    current_or_none,
    list_versions,
)
from .manifest import MANIFEST_NAME


def remove_unpublished(index_dir: Path, current: str | None, steps: Steps) -> None:
    """Versions newer than CURRENT were renamed into place by a publish that then died: never
    served, they would otherwise pass for the "previous" version. Left alone if CURRENT is bad."""
    if current is None and (index_dir / CURRENT).exists():
        return
    for name in list_versions(index_dir):
        if current is None or name > current:
            remove_version(index_dir, name, steps)


def remove_version(index_dir: Path, name: str, steps: Steps) -> bool:
    """Remove one version unless a reader holds its lease; False if kept."""
    try:
        fd = try_exclusive_lease(index_dir, name)
    except OSError:
        return False
    if fd is None:
        return False
    trash = index_dir / f"{TRASH_PREFIX}{name}"
    _record_collected(index_dir, name)  # first: a version gone by name always has its record
    try:
        # Rename first so no reader can ever open a half-deleted version by its name.
        steps.at(f"gc-rename {name} {trash.name}")
        os.rename(index_dir / name, trash)
        steps.at("fsync-dir .")
        fsync_dir(index_dir)
        lease_path(index_dir, name).unlink(missing_ok=True)  # a waiting reader sees it is gone
    except OSError:
        return False
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # what is left in the trash goes on the next pass
        steps.at(f"gc-rmtree {trash.name}")
        shutil.rmtree(trash)
    return True


def _record_collected(index_dir: Path, name: str) -> None:
    # A citation naming this version then gets "gone" (410), not "never existed" (404). Best
    # effort: without the record the answer is 404, never another version's text.
    with contextlib.suppress(OSError), (index_dir / COLLECTED).open("a", encoding="ascii") as fh:
        fh.write(name + "\n")


def collect_garbage(
    index_dir: Path, keep: int, *, grace_s: float = 0.0, failpoint: Failpoint | None = None,
) -> list[str]:
    """Remove old versions, leftovers of crashed publishes and stale leases. Caller holds
    writer_lock. Kept always: CURRENT's version, the one before it, the newest ``keep``, every
    version superseded less than ``grace_s`` seconds ago, and any version with a live reader
    lease. With CURRENT missing or unreadable no version is removed."""
    steps = Steps(failpoint)
    current = current_or_none(index_dir)
    versions = list_versions(index_dir)
    removed: list[str] = []
    if current is not None:
        older = [v for v in versions if v < current]
        protected = {current, *older[-1:], *(versions[-keep:] if keep > 0 else []),
                     *_in_grace(index_dir, [*older, current], grace_s)}
        for name in versions:
            if name not in protected and remove_version(index_dir, name, steps):
                removed.append(name)
    for leftover in [*index_dir.glob(f"{STAGING_PREFIX}*"), *index_dir.glob(f"{TRASH_PREFIX}*")]:
        with contextlib.suppress(OSError):  # a failed clean-up is retried by the next pass
            steps.at(f"gc-rmtree {leftover.name}")
            shutil.rmtree(leftover)
    with contextlib.suppress(OSError):
        (index_dir / CURRENT_TMP).unlink(missing_ok=True)
    _remove_stale_leases(index_dir)
    return removed


def _in_grace(index_dir: Path, served: list[str], grace_s: float) -> list[str]:
    """The versions in ``served`` (oldest first, CURRENT last) superseded less than ``grace_s``
    ago, each dated by its successor's manifest."""
    if grace_s <= 0:
        return []
    now = time.time()
    kept = []
    for version, successor in zip(served, served[1:], strict=False):
        try:
            superseded = os.stat(index_dir / successor / MANIFEST_NAME).st_mtime
        except OSError:
            superseded = now  # undatable: keep it rather than guess
        if now - superseded < grace_s:
            kept.append(version)
    return kept


def _remove_stale_leases(index_dir: Path) -> None:
    lease_dir = index_dir / LEASE_DIR
    if not lease_dir.is_dir():
        return
    for path in lease_dir.iterdir():
        if (index_dir / path.name).is_dir():
            continue
        with contextlib.suppress(OSError):
            fd = try_exclusive_lease(index_dir, path.name)
            if fd is not None:
                path.unlink(missing_ok=True)
                os.close(fd)
