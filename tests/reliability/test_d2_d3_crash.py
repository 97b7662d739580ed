"""D2: a builder crashes at every publish step; D3: the same crash followed by a simulated power
loss (unsynced data damaged or lost, renames/replace not yet fsynced in their directory undone,
every combination of them tried).

Before the commit point (``replace .CURRENT.tmp CURRENT``) the old version must be served, after
it the new one (or, under power loss before the directory fsync, either); the next ingest must
recover: publish, and leave no staging, trash or temporary file behind."""

from __future__ import annotations

from .common import FULL, report, run_harness


def _check(r: dict) -> None:
    assert r.get("harness_errors", 0) == 0, r["errors"]
    assert r.get("unreadable", 0) == 0 and r.get("wrong", 0) == 0, r["errors"]
    assert r.get("partial_dirs", 0) == 0, r["errors"]
    assert r["recovered"] == r["crashes"], r["errors"]


def test_d2_crash_at_every_publish_step(tmp_path):
    r = run_harness("d2", tmp_path, timeout=600)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items()))
    report(
        f"D2: {r['crashes']}/{r['steps']} publish steps crashed ({kinds}) → "
        f"{r.get('unreadable', 0)} unreadable, {r.get('wrong', 0)} wrong version; old served for "
        f"{r.get('old', 0)} (crash at or before the CURRENT replace, step {r['commit_step'] + 1}), "
        f"new for {r.get('new', 0)}; next ingest recovered {r['recovered']}/{r['crashes']}"
    )
    assert r["crashes"] == r["steps"]
    _check(r)
    assert r["old"] == r["commit_step"] + 1 and r["new"] == r["steps"] - r["commit_step"] - 1


def test_d3_simulated_power_loss(tmp_path):
    draws = 5 if FULL else 1
    r = run_harness("d3", tmp_path, timeout=1800 if FULL else 600, draws=draws, seed=3)
    actions = ", ".join(f"{k} {v}" for k, v in sorted(r["damage"].items()))
    report(
        f"D3: {r['crashes']} simulated power losses ({r['steps']} crash points × {draws} "
        f"draw(s) × every lost/kept combination of the renames and CURRENT replace still "
        f"pending; damage applied: {actions}) → {r.get('unreadable', 0)} unreadable, "
        f"{r.get('wrong', 0)} wrong version, {r.get('partial_dirs', 0)} unverifiable version dirs; "
        f"old:new = {r.get('old', 0)}:{r.get('new', 0)}; recovered {r['recovered']}/{r['crashes']}"
    )
    _check(r)
    assert r["crashes"] > r["steps"] * draws
