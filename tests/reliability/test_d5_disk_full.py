"""D5: disk full.

(a) ENOSPC injected at every publish step (through the store's failpoint): ingest raises
PublishFailed naming the step, CURRENT keeps its bytes, the old version loads, and no staging
directory, temporary pointer or new version is left. At the one step after the commit point (the
final directory fsync) the error says the new version was made current; in garbage collection the
error is absorbed and the next pass cleans up.
(b) A real full file system (root only): a tmpfs filled so that 0 … 2× a version's size is
free, the same guarantees on every attempt.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from index.pipeline import ingest
from index.store import PublishFailed, list_versions

from .common import (
    CONFIG,
    base_index,
    copy_index,
    current_bytes,
    encoder,
    leftovers,
    make_corpus,
    report,
    served_marker,
    set_marker,
    unverifiable_versions,
)


def _enospc_at(k: int):
    seen = 0

    def failpoint(step: str) -> None:
        nonlocal seen
        if seen == k:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        seen += 1

    return failpoint


def _generic(text: str) -> str:
    return re.sub(r"\.staging-[0-9a-f]+", ".staging-*", text)


def test_d5_enospc_at_every_publish_step(tmp_path):
    corpus, base = base_index(tmp_path)
    recorded: list[str] = []
    copy_index(base, tmp_path / "rec")
    set_marker(corpus, "new")
    ingest([corpus], tmp_path / "rec", encoder(), CONFIG, progress=False, failpoint=recorded.append)
    commit = next(i for i, s in enumerate(recorded) if s.startswith("replace "))
    clean = post_commit = gc_absorbed = 0
    for k, step in enumerate(recorded):
        tix = tmp_path / "trial"
        copy_index(base, tix)
        old_current, old_versions = current_bytes(tix), list_versions(tix)
        if k <= commit:
            with pytest.raises(PublishFailed) as info:
                ingest([corpus], tix, encoder(), CONFIG, progress=False, failpoint=_enospc_at(k))
            message = str(info.value)
            assert "No space left on device" in message and _generic(step) in _generic(message)
            assert "CURRENT is unchanged" in message, message
            assert current_bytes(tix) == old_current, step
            assert served_marker(tix) == "b3", step
            assert list_versions(tix) == old_versions, step
            assert leftovers(tix) == [], (step, leftovers(tix))
            clean += 1
        elif k == commit + 1:
            with pytest.raises(PublishFailed, match="was made current"):
                ingest([corpus], tix, encoder(), CONFIG, progress=False, failpoint=_enospc_at(k))
            assert served_marker(tix) == "new"
            post_commit += 1
        else:
            report_ = ingest(
                [corpus], tix, encoder(), CONFIG, progress=False, failpoint=_enospc_at(k)
            )
            assert report_.published and served_marker(tix) == "new", step
            ingest([corpus], tix, encoder(), CONFIG, progress=False)  # the next pass cleans up
            assert leftovers(tix) == [] and len(list_versions(tix)) == 2, step
            gc_absorbed += 1
        assert unverifiable_versions(tix) == [], step
    report(
        f"D5: ENOSPC at every one of k=1..{len(recorded)} publish steps → {clean}/{commit + 1} "
        f"before the commit refused with PublishFailed naming the step, CURRENT unchanged, old "
        f"version loads, staging cleaned; {post_commit} after the commit (final dir fsync) "
        f"reported as made-current; {gc_absorbed} in GC absorbed and cleaned on the next pass; "
        "0 corruptions of the current index"
    )
    assert clean == commit + 1 and post_commit == 1


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, check=False,
    )
    return done.returncode == 0


def _allocated_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in [path, *path.rglob("*")])


def test_d5_real_full_filesystem(tmp_path):
    mnt = tmp_path / "fs"
    if not _mount_tmpfs(mnt, "8m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        corpus, ix = make_corpus(tmp_path, "t0"), mnt / "ix"
        for marker in ("t1", "t2"):
            set_marker(corpus, marker)
            ingest([corpus], ix, encoder(), CONFIG, progress=False)
        need = _allocated_bytes(ix / list_versions(ix)[-1])
        points = sorted({int(need * 2 * i / 24) for i in range(25)})
        succeeded = refused = 0
        where: Counter[str] = Counter()
        for i, free in enumerate(points):
            stat = os.statvfs(mnt)
            filler_size = max(0, stat.f_bavail * stat.f_frsize - free)
            fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if filler_size:
                    os.posix_fallocate(fd, 0, filler_size)
            finally:
                os.close(fd)
            old_current, old_marker = current_bytes(ix), served_marker(ix)
            set_marker(corpus, f"f{i}")
            try:
                ingest([corpus], ix, encoder(), CONFIG, progress=False)
            except PublishFailed as exc:
                assert "No space left" in str(exc) and "CURRENT is unchanged" in str(exc), exc
                assert current_bytes(ix) == old_current and served_marker(ix) == old_marker
                assert leftovers(ix) == [], leftovers(ix)
                refused += 1
                step = re.search(r"at step '([^']+)'", str(exc)).group(1)  # type: ignore[union-attr]
                op, _, target = step.partition(" ")
                where[f"{op} {target.rstrip('/').rsplit('/', 1)[-1]}"] += 1
            else:
                assert served_marker(ix) == f"f{i}"
                succeeded += 1
            assert unverifiable_versions(ix) == []
            (mnt / "filler").unlink()
        report(
            f"D5: real ENOSPC on an 8 MiB tmpfs, free space swept over {len(points)} points "
            f"(0 … {points[-1]} bytes; a version takes {need} bytes) → {refused} refused cleanly "
            f"(at {', '.join(f'{k} {v}' for k, v in sorted(where.items()))}; "
            f"CURRENT unchanged, old version loads, staging cleaned), {succeeded} published; "
            "0 corruptions"
        )
        assert refused > 0 and succeeded > 0
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_d5_enospc_while_an_approximate_index_is_written(tmp_path):
    """A FAISS index is streamed to its file a block at a time: a full disk at any of its steps
    (open, after the first block, fsync) is the same refusal as for any other file, with the
    OSError FAISS's writer passed on as itself."""
    from dataclasses import replace

    config = replace(CONFIG, faiss_factory="HNSW32")  # trains on nothing: any size is built
    corpus, base = make_corpus(tmp_path, "b1"), tmp_path / "base"
    ingest([corpus], base, encoder(), config, progress=False)
    set_marker(corpus, "new")
    recorded: list[str] = []
    copy_index(base, tmp_path / "rec")
    ingest([corpus], tmp_path / "rec", encoder(), config, progress=False,
           failpoint=recorded.append)
    faiss_steps = [k for k, step in enumerate(recorded) if step.endswith(".faiss")]
    assert {recorded[k].split()[0] for k in faiss_steps} == {"write", "write-half", "fsync"}
    for k in faiss_steps:
        tix = tmp_path / "trial"
        copy_index(base, tix)
        old_current = current_bytes(tix)
        with pytest.raises(PublishFailed) as info:
            ingest([corpus], tix, encoder(), config, progress=False, failpoint=_enospc_at(k))
        message = str(info.value)
        assert "No space left on device" in message, message
        assert _generic(recorded[k]) in _generic(message), message
        assert current_bytes(tix) == old_current and served_marker(tix) == "b1"
        assert leftovers(tix) == [], leftovers(tix)
