"""Garbage collection of old versions and of what crashed writers left behind.

A version is removed only while its lease can be taken exclusively (no reader holds it), and is
first renamed to ``.trash-<version>`` so that no reader can ever open a half-deleted version by
name. The caller holds the writer lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .durable import LEASE_DIR, Failpoint, Steps, fsync_dir, lease_path, try_exclusive_lease
from .layout import (
    CURRENT,
    CURRENT_TMP,
    STAGING_PREFIX,
    TRASH_PREFIX,
    current_or_none,
    list_versions,
)


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


def collect_garbage(index_dir: Path, keep: int, *, failpoint: Failpoint | None = None) -> list[str]:
    """Remove old versions, leftovers of crashed publishes and stale leases. Caller holds
    writer_lock. Kept always: CURRENT's version, the one before it, the newest ``keep``, and any
    version with a live reader lease. With CURRENT missing or unreadable no version is removed."""
    steps = Steps(failpoint)
    current = current_or_none(index_dir)
    versions = list_versions(index_dir)
    removed: list[str] = []
    if current is not None:
        older = [v for v in versions if v < current]
        protected = {current, *older[-1:], *(versions[-keep:] if keep > 0 else [])}
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
