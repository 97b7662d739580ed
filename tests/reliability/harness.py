"""Fork-based fault scenarios, run in a fresh interpreter by the tests:

    python -m tests.reliability.harness SCENARIO WORKDIR '{"param": ...}'

prints one JSON line with the scenario's counts. Scenarios: d1 (SIGKILL at random times during
ingest), d2 (crash at every publish step), d3 (crash + simulated power loss at every step), d4
(corrupted artifacts, loader under RLIMIT_AS), d7 (two builders at once), d8 (lifecycle model).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from index.manifest import IndexCorrupt, IndexMismatch
from index.pipeline import ingest
from index.store import CURRENT, list_versions, load_snapshot

from .common import (
    CONFIG,
    base_index,
    copy_index,
    current_bytes,
    encoder,
    leftovers,
    make_corpus,
    served_marker,
    set_marker,
    unverifiable_versions,
)
from .forking import EXIT_BUSY, EXIT_CRASHED, fork_ingest
from .powerloss import pending_metadata, power_loss


def _phase(steps: list[str]) -> str:
    """Where a kill landed, from the last publish step the child reported reaching."""
    ops = [s.split(" ", 1)[0] for s in steps]
    if not ops:
        return "building"
    if "replace" in ops:
        return "gc" if ops[-1].startswith("gc-") else "committing"
    if "rename" in ops:
        return "renamed"
    return "staging"


def d1(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(p.get("seed", 1))
    corpus, ix = make_corpus(work, "m0"), work / "ix"
    ingest([corpus], ix, encoder(), CONFIG, progress=False)
    durations = []
    for i in range(5):  # how long one ingest takes, so kills spread over all of it
        set_marker(corpus, f"cal{i}")
        t0 = time.perf_counter()
        code, _, _ = fork_ingest(corpus, ix).wait()
        assert code == 0
        durations.append(time.perf_counter() - t0)
    span = statistics.median(durations) * 1.1
    old = served_marker(ix)
    out: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    errors: list[str] = []
    trial = 0
    while out["kills"] < p["kills"] and trial < 4 * p["kills"]:
        trial += 1
        marker = f"k{trial}"
        set_marker(corpus, marker)
        child = fork_ingest(corpus, ix)
        time.sleep(rng.uniform(0, span))
        child.kill()
        code, sig, steps = child.wait()
        killed = sig is not None
        out["kills" if killed else "completed"] += 1
        if killed:
            phases[_phase(steps)] += 1
        try:
            served = served_marker(ix)
        except Exception as exc:  # noqa: BLE001 - any refusal is an unreadable index
            out["unreadable"] += 1
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        if served == marker:
            out["new" if killed else "completed_new"] += 1
        elif served == old and killed:
            out["old"] += 1
        else:
            out["partial"] += 1
            errors.append(f"trial {trial}: served {served!r}, expected {old!r} or {marker!r}")
        bad = unverifiable_versions(ix)
        out["partial_dirs"] += len(bad)
        errors.extend(f"unverifiable version {b}" for b in bad)
        old = served
    set_marker(corpus, "final")
    ingest([corpus], ix, encoder(), CONFIG, progress=False)
    recovered = served_marker(ix) == "final" and not leftovers(ix)
    return {**out, "phases": dict(phases), "errors": errors[:10], "recovered": recovered,
            "ingest_ms": round(span / 1.1 * 1000, 1)}


Damage = Callable[[Path, list[str], bytes | None, random.Random, tuple[bool, ...]], Any]


def _crash_sweep(work: Path, draws: int, damage: Damage | None, seed: int) -> dict[str, Any]:
    """Crash a builder at every step k of a publish (+ GC); with ``damage``, follow each crash by
    a simulated power loss, once per combination of pending metadata operations being lost."""
    corpus, base = base_index(work)
    recorded: list[str] = []
    copy_index(base, work / "rec")
    set_marker(corpus, "new")
    ingest([corpus], work / "rec", encoder(), CONFIG, progress=False, failpoint=recorded.append)
    commit = next(i for i, s in enumerate(recorded) if s.startswith("replace "))
    rng = random.Random(seed)
    out: Counter[str] = Counter()
    damaged: Counter[str] = Counter()
    errors: list[str] = []
    for k in range(len(recorded)):
        pending = pending_metadata(recorded[:k]) if damage else 0
        for _, undo in itertools.product(range(draws), itertools.product((0, 1), repeat=pending)):
            tix = work / "trial"
            copy_index(base, tix)
            old_current = current_bytes(tix)
            code, _, steps = fork_ingest(corpus, tix, crash_at=k).wait()
            kinds = [s.split(" ", 1)[0] for s in steps]
            if code != EXIT_CRASHED or kinds != [s.split(" ", 1)[0] for s in recorded[: k + 1]]:
                errors.append(f"step {k}: child exit {code}, steps {len(steps)}")
                out["harness_errors"] += 1
                continue
            if damage:
                for action in damage(tix, steps[:k], old_current, rng, tuple(map(bool, undo))):
                    words = action.split(" ")
                    damaged["-".join(words[:2]) if words[0] == "undo" else words[0]] += 1
            out["crashes"] += 1
            outcome = _after_crash(corpus, tix, k <= commit)
            out.update({key: n for key, n in outcome.items() if ":" not in key})
            if outcome.keys() & {"unreadable", "wrong", "partial_dirs", "unrecovered"}:
                errors.append(f"step {k} ({recorded[k]}), undo {undo}: {outcome}")
    kinds = Counter(s.split(" ", 1)[0] for s in recorded)
    return {**out, "steps": len(recorded), "commit_step": commit, "kinds": dict(kinds),
            "damage": dict(damaged), "errors": errors[:10]}


def _after_crash(corpus: Path, tix: Path, before_commit: bool) -> Counter[str]:
    """Load what the crash left (old "b3" or new "new" allowed; old only before the commit),
    then check that the next ingest recovers cleanly."""
    out: Counter[str] = Counter()
    try:
        served = served_marker(tix)
    except Exception as exc:  # noqa: BLE001 - any refusal is an unreadable index
        out[f"unreadable: {type(exc).__name__}: {exc}"] += 1
        out["unreadable"] += 1
        return out
    if served not in ("b3", "new") or (before_commit and served != "b3"):
        out["wrong"] += 1
    out["new" if served == "new" else "old"] += 1
    if unverifiable_versions(tix):
        out["partial_dirs"] += 1
    ingest([corpus], tix, encoder(), CONFIG, progress=False)
    clean = not leftovers(tix) and not unverifiable_versions(tix)
    out["recovered" if served_marker(tix) == "new" and clean else "unrecovered"] += 1
    return out


def d2(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    return _crash_sweep(work, 1, None, p.get("seed", 2))


def d3(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    return _crash_sweep(work, p["draws"], power_loss, p.get("seed", 3))


# ---- D4: corruption ----------------------------------------------------------------------------


def _mutations(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    n = len(data)
    out: list[tuple[str, bytes]] = []
    for frac in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.999):
        out.append((f"cut@{frac:.1%}", data[: int(n * frac)]))
    for count in (1, 8, 64):
        buf = bytearray(data)
        for pos in rng.sample(range(n), min(count, n)):
            buf[pos] ^= rng.randrange(1, 256)
        out.append((f"flip{count}", bytes(buf)))
    page = rng.randrange(0, max(1, (n + 4095) // 4096)) * 4096
    zeroed = data[:page] + b"\0" * len(data[page : page + 4096]) + data[page + 4096 :]
    out.append(("zero-page", zeroed))
    for i in range(min(16, n)):
        buf = bytearray(data)
        buf[i] ^= 0xFF
        out.append((f"header[{i}]", bytes(buf)))
    return [(label, m) for label, m in out if m != data]


def d4(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    import faiss

    corpus, ix = make_corpus(work, "m0"), work / "ix"
    ingest([corpus], ix, encoder(), CONFIG, progress=False)
    version = load_snapshot(ix).version
    reads = Counter()

    def counting(real: Any) -> Any:
        def call(*args: Any) -> Any:
            reads["faiss"] += 1
            return real(*args)
        return call

    faiss.deserialize_index = counting(faiss.deserialize_index)
    faiss.read_index = counting(faiss.read_index)
    # FAISS asked to allocate from a corrupt header is the hazard: cap the address space.
    vm = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
    manifest = load_snapshot(ix).manifest
    artifacts = [f"{version}/{rel}" for rel in manifest["files"]]
    artifacts += [f"{version}/manifest.json", CURRENT]
    rng = random.Random(p.get("seed", 4))
    out: Counter[str] = Counter()
    errors: list[str] = []
    slowest = 0.0
    for rel in artifacts:
        path = ix / rel
        pristine = path.read_bytes()
        name = rel.split("/", 1)[1] if "/" in rel else rel
        for label, data in _mutations(pristine, rng):
            path.write_bytes(data)
            before = reads["faiss"]
            t0 = time.perf_counter()
            try:
                load_snapshot(ix).close()
            except (IndexCorrupt, IndexMismatch) as exc:
                out["rejected"] += 1
                if name not in str(exc):
                    out["unnamed"] += 1
                    errors.append(f"{rel} {label}: {exc}")
            except Exception as exc:  # noqa: BLE001 - anything else is a crash of the loader
                out["crashes"] += 1
                errors.append(f"{rel} {label}: {type(exc).__name__}: {exc}")
            else:
                out["silent"] += 1
                errors.append(f"{rel} {label}: loaded silently")
            slowest = max(slowest, time.perf_counter() - t0)
            out["mutations"] += 1
            out["faiss_reads_on_corrupt"] += reads["faiss"] - before
            path.write_bytes(pristine)
    load_snapshot(ix).close()  # pristine again: loads
    return {**out, "artifacts": len(artifacts), "slowest_ms": round(slowest * 1000, 1),
            "errors": errors[:10]}


# ---- D7: two builders -------------------------------------------------------------------------


def d7(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    ix = work / "ix"
    corpora = {
        side: make_corpus(work / side, f"{side}0", docs={f"{side}-{i}.txt": (
            f"Builder {side} document {i} about hubs in Sefton. It has a second sentence.\n")
            for i in range(3)})
        for side in ("a", "b")
    }
    ingest([corpora["a"]], ix, encoder(), CONFIG, progress=False)
    out: Counter[str] = Counter()
    errors: list[str] = []
    busy_ms: list[float] = []
    for trial in range(p["trials"]):
        for side, corpus in corpora.items():
            set_marker(corpus, f"{side}{trial + 1}")
        before = set(list_versions(ix))
        go_read, go_write = os.pipe()
        children = {
            side: fork_ingest(corpus, ix, go_fd=go_read, hold_lock_s=0.05)
            for side, corpus in corpora.items()
        }
        os.close(go_read)
        t0 = time.perf_counter()
        os.write(go_write, b"gg")
        os.close(go_write)
        pending = {child.pid: side for side, child in children.items()}
        results, exit_ms = {}, {}
        while pending:
            pid, status = os.waitpid(-1, 0)
            side = pending.pop(pid)
            exit_ms[side] = (time.perf_counter() - t0) * 1000
            results[side] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        for child in children.values():
            os.close(child.log_read)
        if sorted(results.values()) != [0, EXIT_BUSY]:
            out["not_exactly_one"] += 1
            errors.append(f"trial {trial}: exit codes {results}")
            continue
        winner = next(s for s, c in results.items() if c == 0)
        loser = next(s for s, c in results.items() if c == EXIT_BUSY)
        busy_ms.append(exit_ms[loser])
        with load_snapshot(ix) as snap:
            ids = {d.doc_id for d in snap.content.documents}
        expected = {path.stem for path in corpora[winner].iterdir()}
        new_versions = set(list_versions(ix)) - before
        if ids != expected or len(new_versions) != 1 or served_marker(ix) != f"{winner}{trial + 1}":
            out["interleaved"] += 1
            errors.append(f"trial {trial}: served {sorted(ids)} new {sorted(new_versions)}")
        out["trials"] += 1
        out[f"won_{winner}"] += 1
    return {**out, "errors": errors[:10], "busy_ms_p50": round(statistics.median(busy_ms), 1),
            "busy_ms_max": round(max(busy_ms), 1)}


def d8(work: Path, p: dict[str, Any]) -> dict[str, Any]:
    from .lifecycle import run

    return run(work, p["examples"], p["steps"])


SCENARIOS = {"d1": d1, "d2": d2, "d3": d3, "d4": d4, "d7": d7, "d8": d8}


def _fork_safe_tqdm() -> None:
    """bm25s draws tqdm bars, and tqdm shares a multiprocessing semaphore with forked children and
    starts a monitor thread: a child SIGKILLed while holding that semaphore would deadlock this
    process at its next bar. A thread-local lock and no monitor make forking safe."""
    import threading

    import tqdm

    tqdm.tqdm.monitor_interval = 0
    tqdm.tqdm.set_lock(threading.RLock())


def main() -> None:
    _fork_safe_tqdm()
    scenario, work, params = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = SCENARIOS[scenario](work, params)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
