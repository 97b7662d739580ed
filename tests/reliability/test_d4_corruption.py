"""D4: every artifact of a version (each data file, the .npy vectors, the BM25 files, FAISS files
where the index is approximate, manifest.json) and CURRENT, mutated: 11 cut points, 1/8/64
flipped bytes, a zeroed 4 KiB page, each of the first 16 bytes flipped. Every mutation must be
refused by name (IndexCorrupt, or IndexMismatch for a changed format number) before FAISS reads a
byte; the loader runs under RLIMIT_AS."""

from __future__ import annotations

from .common import report, run_harness


def test_d4_corrupted_and_truncated_artifacts(tmp_path):
    r = run_harness("d4", tmp_path, timeout=600, seed=4)
    report(
        f"D4: {r['mutations']} mutated files over {r['artifacts']} artifacts → {r['rejected']} "
        f"rejected by name, {r.get('silent', 0)} silent loads, "
        f"{r.get('crashes', 0)} crashes/hangs, "
        f"{r.get('faiss_reads_on_corrupt', 0)} FAISS reads of a corrupt version "
        f"(slowest rejection {r['slowest_ms']} ms, loader under RLIMIT_AS)"
    )
    assert r["rejected"] == r["mutations"] > 500, r["errors"]
    assert r.get("unnamed", 0) == 0, r["errors"]
    assert r.get("silent", 0) == 0 and r.get("crashes", 0) == 0, r["errors"]
    assert r.get("faiss_reads_on_corrupt", 0) == 0
