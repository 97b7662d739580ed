"""D8: a hypothesis state machine over the index lifecycle (build, crash, corrupt, reload, readers,
gc). Invariants after every step: the served version was published and verified when loaded; no
version a reader holds, nor CURRENT's, nor the one before it, is ever removed; every version dir
that was not deliberately corrupted still verifies (published versions are never modified)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from index.manifest import IndexCorrupt, IndexMismatch
from index.pipeline import IngestConfig, ingest
from index.store import (
    IndexNotFound,
    IndexSnapshot,
    collect_garbage,
    current_version,
    list_versions,
    load_snapshot,
    verify_version,
    writer_lock,
)

from .common import encoder, make_corpus, set_marker
from .forking import fork_ingest

KEEP_MANY = IngestConfig(keep_versions=50)  # versions pile up; the gc rule trims them
STATS = {"steps": 0, "examples": 0, "crashes": 0, "gc_removed": 0, "gc_kept_in_use": 0,
         "reload_refused": 0, "corruptions": 0}


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="d8-", dir=WORK))
        self.ix = self.root / "ix"
        self.corpus = make_corpus(self.root, "r0")
        self.rev = 0
        self.published: set[str] = set()  # every version CURRENT has named, verified then
        self.corrupted: set[str] = set()
        self.served: IndexSnapshot | None = None
        self.readers: list[IndexSnapshot] = []
        STATS["examples"] += 1

    def teardown(self) -> None:
        for snap in [self.served, *self.readers]:
            if snap is not None:
                snap.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _note_current(self) -> None:
        name = current_version(self.ix)
        if name is not None and name not in self.published:
            verify_version(self.ix, name)  # a version becomes current only complete and verified
            self.published.add(name)

    def _next_marker(self) -> None:
        self.rev += 1
        set_marker(self.corpus, f"r{self.rev}")

    @rule()
    def build(self) -> None:
        self._next_marker()
        ingest([self.corpus], self.ix, encoder(), KEEP_MANY, progress=False)
        self._note_current()

    @rule(step=st.integers(min_value=0, max_value=60))
    def crash_during_build(self, step: int) -> None:
        self._next_marker()
        fork_ingest(self.corpus, self.ix, crash_at=step, config=KEEP_MANY).wait()
        STATS["crashes"] += 1
        self._note_current()

    @precondition(lambda self: list_versions(self.ix))
    @rule(data=st.data())
    def corrupt(self, data: st.DataObject) -> None:
        version = data.draw(st.sampled_from(list_versions(self.ix)))
        files = sorted(p for p in (self.ix / version).rglob("*") if p.is_file())
        victim = data.draw(st.sampled_from(files))
        raw = bytearray(victim.read_bytes())
        if not raw:
            return
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 0x5A
        victim.write_bytes(bytes(raw))
        self.corrupted.add(version)
        STATS["corruptions"] += 1

    @rule()
    def reload(self) -> None:
        try:
            snap = load_snapshot(self.ix)
        except (IndexCorrupt, IndexMismatch, IndexNotFound):
            STATS["reload_refused"] += 1  # keep serving what we have
            return
        assert snap.version in self.published and snap.version not in self.corrupted
        if self.served is not None:
            self.served.close()
        self.served = snap

    @precondition(lambda self: len(self.readers) < 3 and list_versions(self.ix))
    @rule(data=st.data(), current=st.booleans())
    def open_reader(self, data: st.DataObject, current: bool) -> None:
        """A reader pins CURRENT, or any version by name (an old one being drained, say)."""
        version = None if current else data.draw(st.sampled_from(list_versions(self.ix)))
        try:
            snap = load_snapshot(self.ix, version)
        except (IndexCorrupt, IndexMismatch, IndexNotFound):
            return
        assert version is not None or snap.version in self.published
        assert snap.version not in self.corrupted
        self.readers.append(snap)

    @precondition(lambda self: self.readers)
    @rule(data=st.data())
    def close_reader(self, data: st.DataObject) -> None:
        self.readers.pop(data.draw(st.integers(0, len(self.readers) - 1))).close()

    @rule(keep=st.integers(min_value=0, max_value=3))
    def gc(self, keep: int) -> None:
        current = current_version(self.ix)
        before = list_versions(self.ix)
        previous = max((v for v in before if current and v < current), default=None)
        in_use = {s.version for s in [self.served, *self.readers] if s is not None}
        with writer_lock(self.ix):
            removed = collect_garbage(self.ix, keep)
        assert current not in removed and previous not in removed, (removed, current, previous)
        assert not in_use & set(removed), (removed, in_use)
        STATS["gc_removed"] += len(removed)
        unprotected = set(before) - {current, previous} - set(before[-keep:] if keep else [])
        STATS["gc_kept_in_use"] += len(unprotected & in_use)

    @invariant()
    def served_is_published_and_present(self) -> None:
        STATS["steps"] += 1
        if self.served is not None:
            assert self.served.version in self.published
        for snap in [self.served, *self.readers]:
            if snap is not None:
                assert (self.ix / snap.version).is_dir(), f"{snap.version} in use but removed"

    @invariant()
    def versions_are_intact(self) -> None:
        for name in list_versions(self.ix):
            if name not in self.corrupted:
                verify_version(self.ix, name)
        current = current_version(self.ix) if (self.ix / "CURRENT").exists() else None
        if current is not None:
            assert current in self.published and (self.ix / current).is_dir()


WORK = Path(tempfile.gettempdir())


def run(work: Path, examples: int, steps: int) -> dict[str, Any]:
    global WORK
    WORK = work
    random.seed(8)
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
            derandomize=True, suppress_health_check=list(HealthCheck), print_blob=True,
        ),
    )
    return dict(STATS)
