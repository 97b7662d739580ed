"""D8: hypothesis RuleBasedStateMachine over build / crash / corrupt / reload / readers / gc
(see lifecycle.py): the served version is always one that was published and verified, and GC
never removes CURRENT's version, the previous one or one in use."""

from __future__ import annotations

from .common import FULL, report, run_harness

EXAMPLES, STEPS = (100, 40) if FULL else (12, 25)


def test_d8_lifecycle_state_machine(tmp_path):
    r = run_harness("d8", tmp_path, timeout=3000 if FULL else 600, examples=EXAMPLES, steps=STEPS)
    report(
        f"D8: {r['steps']} steps over {r['examples']} examples (≤ {STEPS} steps each) → "
        f"0 invariant violations ({r['crashes']} crashed builds, {r['corruptions']} corruptions, "
        f"{r['reload_refused']} reloads refused, {r['gc_removed']} versions collected, "
        f"{r['gc_kept_in_use']} kept only because a reader held them)"
    )
    assert r["steps"] >= EXAMPLES * 5
