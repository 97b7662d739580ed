"""Hostile source files: huge, binary, decompression-bomb and content-bomb PDFs, deeply nested
HTML, NUL bytes, empty files, a broken sidecar and a symlink loop, next to good (some in legacy
encodings, which are decoded, not refused) files. The real pipeline ingests the folder in a child
process under an address-space limit and a
timeout: every hostile file is reported by name with a reason and skipped, the good ones are
indexed, and the build publishes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from .common import FULL, REPO, report
from .hostile_files import write_good, write_hostile

MAX_FILE_BYTES = 5_000_000
MEMORY_LIMIT = 3 * 1024**3  # address space of the child: the imports take a large share of it
TIMEOUT_S = 300


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_hostile_files_are_reported_and_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    hostile = write_hostile(corpus, max_file_bytes=MAX_FILE_BYTES, full=FULL)
    good = write_good(corpus)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.hostile_files", str(corpus),
         str(tmp_path / "index"), str(MAX_FILE_BYTES)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        preexec_fn=_limit_memory, check=False,
    )
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    skipped: dict[str, str] = result["skipped"]
    report(f"Hostile ingest: {len(skipped)}/{len(hostile)} hostile files reported and skipped "
           f"in {result['seconds']:.1f} s (child wall {wall:.1f} s, RLIMIT_AS "
           f"{MEMORY_LIMIT // 1024**3} GiB), peak RSS {result['peak_rss_mb']:.0f} MB; "
           f"{len(result['indexed'])}/{len(good)} good files indexed")
    for name, reason in sorted(skipped.items()):
        print(f"  {name}: {reason}")
    assert set(skipped) == set(hostile)
    assert all(reason and "Traceback" not in reason for reason in skipped.values())
    assert sorted(result["indexed"]) == sorted(good) and result["published"]
