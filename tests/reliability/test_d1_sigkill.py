"""D1: SIGKILL at random moments during ingest (fork harness).

After every kill the real loader must load a complete, verified version: the old one or the new
one, never a partial mix, and every directory visible under a version name must verify."""

from __future__ import annotations

from .common import FULL, report, run_harness

KILLS = 1000 if FULL else 200


def test_d1_sigkill_during_ingest(tmp_path):
    r = run_harness("d1", tmp_path, timeout=3000 if FULL else 600, kills=KILLS, seed=1)
    phases = ", ".join(f"{k} {v}" for k, v in sorted(r["phases"].items()))
    report(
        f"D1: {r['kills']}/{KILLS} SIGKILLs during ingest → {r.get('unreadable', 0)} unreadable, "
        f"{r.get('partial', 0)} partial, {r.get('partial_dirs', 0)} unverifiable version dirs; "
        f"old:new = {r.get('old', 0)}:{r.get('new', 0)} (kills landed: {phases}; "
        f"{r.get('completed', 0)} builds finished before the kill; ingest ≈ {r['ingest_ms']} ms; "
        f"{r['seconds']} s)"
    )
    assert r["kills"] == KILLS, r
    assert r.get("unreadable", 0) == 0 and r.get("partial", 0) == 0, r["errors"]
    assert r.get("partial_dirs", 0) == 0, r["errors"]
    assert r.get("old", 0) + r.get("new", 0) == KILLS
    assert r.get("completed", 0) == r.get("completed_new", 0)
    assert r["recovered"]
