"""D7: two builders started at the same instant on different corpora, 50 trials: exactly one
publishes, the other fails fast with IndexBusy, and the published version is wholly one
builder's (no interleaving)."""

from __future__ import annotations

from .common import FULL, report, run_harness

TRIALS = 200 if FULL else 50


def test_d7_two_builders_at_once(tmp_path):
    r = run_harness("d7", tmp_path, timeout=1200, trials=TRIALS)
    report(
        f"D7: {r.get('trials', 0)}/{TRIALS} trials with 2 concurrent builders → exactly one "
        f"published each time (a won {r.get('won_a', 0)}, b won {r.get('won_b', 0)}), "
        f"{r.get('not_exactly_one', 0)} failures, {r.get('interleaved', 0)} interleaved versions; "
        f"loser refused with IndexBusy after p50 {r['busy_ms_p50']} ms / max {r['busy_ms_max']} ms"
    )
    assert r.get("trials", 0) == TRIALS, r["errors"]
    assert r.get("not_exactly_one", 0) == 0 and r.get("interleaved", 0) == 0, r["errors"]
