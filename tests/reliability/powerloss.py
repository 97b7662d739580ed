"""Simulated power loss after a crash (what SQLite's test6.c VFS and Lucene's
``MockDirectoryWrapper.crash()`` do): data that was never fsynced may be lost.

Given the publish steps a crashed builder took (``write X``, ``fsync X``, ``fsync-dir D``,
``rename S N``, ``replace .CURRENT.tmp CURRENT``, ``gc-rename V T``), every file written but not
fsynced is zeroed, cut to half, cut to nothing or left alone; a file whose directory was not
fsynced after it was created may vanish; and a rename or replace not followed by an fsync of its
directory may be undone. Data damage is drawn at random; the undo choices are given, so a caller
can try every combination of the (few) metadata operations still pending at the crash.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from index.store import CURRENT, CURRENT_TMP


@dataclass
class _File:
    synced: bool = False
    entry_durable: bool = False


@dataclass
class _State:
    files: dict[str, _File] = field(default_factory=dict)
    renames: list[tuple[str, str]] = field(default_factory=list)  # not yet made durable
    replaced: bool = False


def _parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else "."


def _replay(index_dir: Path, steps: list[str]) -> _State:
    state = _State()
    for step in steps:
        op, _, arg = step.partition(" ")
        if op == "write" and arg.endswith("/"):  # bm25s wrote a whole directory
            for f in sorted((index_dir / arg).glob("*")) if (index_dir / arg).is_dir() else []:
                state.files[f.relative_to(index_dir).as_posix()] = _File()
        elif op == "write":
            state.files[arg] = _File()
        elif op == "fsync" and arg in state.files:
            state.files[arg].synced = True
        elif op == "fsync-dir":
            for rel, f in state.files.items():
                if _parent(rel) == arg:
                    f.entry_durable = True
            if arg == ".":
                state.renames.clear()
                state.replaced = False
        elif op in ("rename", "gc-rename"):
            src, dst = arg.split(" ")
            state.renames.append((src, dst))
            state.files = {
                (dst + rel[len(src):] if rel.startswith(src + "/") else rel): f
                for rel, f in state.files.items()
            }
        elif op == "replace":
            state.replaced = True
            tmp = state.files.pop(CURRENT_TMP, _File())
            state.files[CURRENT] = tmp
    return state


def _damage(path: Path, rng: random.Random) -> str:
    size = path.stat().st_size
    choice = rng.choice(["zero", "half", "empty", "keep"])
    if choice == "zero":
        path.write_bytes(b"\0" * size)
    elif choice == "half":
        path.write_bytes(path.read_bytes()[: size // 2])
    elif choice == "empty":
        path.write_bytes(b"")
    return choice


def pending_metadata(steps: list[str]) -> int:
    """How many renames/replaces were not yet made durable when the crash came."""
    state = _replay(Path("/nonexistent"), steps)
    return len(state.renames) + int(state.replaced)


def power_loss(
    index_dir: Path, steps: list[str], old_current: bytes | None, rng: random.Random,
    undo: tuple[bool, ...],
) -> list[str]:
    """Damage ``index_dir`` as a power cut right after ``steps`` might; ``undo`` says which
    pending renames (then the CURRENT replace) are lost. Returns what was done."""
    state = _replay(index_dir, steps)
    undo_renames = list(undo[: len(state.renames)])
    undo_replace = bool(undo[len(state.renames) :][:1] == (True,))
    done = []
    for rel, f in sorted(state.files.items()):
        path = index_dir / rel
        if not path.is_file():
            continue
        if not f.synced:
            done.append(f"{_damage(path, rng)} {rel}")
        if rel != CURRENT and not f.entry_durable and rng.random() < 0.25:
            path.unlink()
            done.append(f"lost {rel}")
    for (src, dst), lost in reversed(list(zip(state.renames, undo_renames, strict=True))):
        if lost and (index_dir / dst).exists() and not (index_dir / src).exists():
            (index_dir / dst).rename(index_dir / src)
            done.append(f"undo rename {dst} -> {src}")
    if state.replaced and undo_replace:
        if old_current is None:
            (index_dir / CURRENT).unlink()
        else:
            (index_dir / CURRENT).write_bytes(old_current)
        done.append("undo replace CURRENT")
    return done
