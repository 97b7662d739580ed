"""The real path at scale: ``citeqa ingest`` a large collection, ``citeqa serve`` it, ask over HTTP.

    python -m eval.bench.real_scale --index var/bench/million-index \
        --factory 'IVF4096,PQ48,Refine(SQ8)' --questions 200 --out var/bench/million.json \
        PATH [PATH ...]

Reports what a user of a large collection meets: ingest time, characters per second and peak
resident memory (polled from /proc), the version's size on disk, the server's start time and
resident memory, HTTP latency of ``/ask`` for questions drawn from the benchmark sets whose
corpora are in the collection, and recall@10 of each served dense index against exact search.
``--skip-ingest`` measures an index built before. Every timing carries the load average around it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..datasets import BENCH_DIR
from .http_measure import measure_ask
from .ingest import _PUBLISHED
from .server import UNLIMITED, process_memory, serve

QUESTION_SETS = ("squad-v1.1-dev/questions.jsonl", "squad-v2.0-dev/questions.jsonl",
                 "scifact/questions.jsonl")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_ingest(paths: Sequence[Path], env: dict[str, str]) -> dict[str, Any]:
    """``citeqa ingest PATHS`` in a subprocess: wall time, peak RSS and what it published."""
    started, peak, load_before = time.perf_counter(), 0, _load()
    loads: list[float] = []  # the 1-minute load average, sampled through the run
    with tempfile.TemporaryFile("w+") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "ingest", "--quiet", *map(str, paths)],
            env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )
        while proc.poll() is None:
            memory = process_memory(proc.pid)
            peak = max(peak, memory.peak_bytes if memory else 0)
            loads.append(os.getloadavg()[0])
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        sink.seek(0)
        text = sink.read()
    found = _PUBLISHED.search(text)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"citeqa ingest failed with exit {proc.returncode}:\n{text[-2000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak / 2**20, 1),
            "documents": int(found.group(1)), "chunks": int(found.group(2)),
            "sentences": int(found.group(3)), "load_average_before": load_before,
            "load_average_after": _load(),
            "load_1min_during": {"median": round(statistics.median(loads), 2) if loads else None,
                                 "max": round(max(loads), 2) if loads else None},
            "output_tail": text[-1500:]}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def collection_facts(index_dir: Path) -> dict[str, Any]:
    """Characters, counts, disk size and served recall of the current version."""
    from index.store import current_version, load_snapshot

    from .served_index import measure

    version = current_version(index_dir)
    with load_snapshot(index_dir) as snap:
        chars = sum(len(doc.text) for doc in snap.content.documents)
        recall = [
            {"file": row.file, "built": row.built, "vectors": row.vectors,
             "search_params": row.search_params, "recall_at_10_at_build":
             row.recorded_recall_at_10, "recall_at_10_served": row.served_recall_at_10}
            for row in measure(snap, index_dir.name).rows
        ]
    return {"version": version, "chars": chars,
            "disk_mib": round(_dir_bytes(index_dir / str(version)) / 2**20, 1),
            "dense_recall": recall}


def questions(count: int, seed: int = 0) -> list[str]:
    """``count`` questions drawn (fixed seed) from the benchmark sets present under BENCH_DIR."""
    pool: list[str] = []
    for name in QUESTION_SETS:
        path = BENCH_DIR / name
        if path.is_file():
            with path.open(encoding="utf-8") as fh:
                pool += [json.loads(line)["question"] for line in fh if line.strip()]
    random.Random(seed).shuffle(pool)
    return pool[:count]


def run_serve(env: dict[str, str], asked: list[str], warmup: int) -> dict[str, Any]:
    load_before = _load()
    with serve({**UNLIMITED, **env}) as served:
        memory = process_memory(served.pid)
        ready = {"ready_s": round(served.ready_s, 2), "load_average_at_start": load_before,
                 "rss_ready_mib": round(memory.rss_bytes / 2**20, 1) if memory else None}
        measured = measure_ask(served.url, asked, warmup)
        memory = process_memory(served.pid)
        after = {"rss_after_load_mib": round(memory.rss_bytes / 2**20, 1) if memory else None,
                 "peak_rss_mib": round(memory.peak_bytes / 2**20, 1) if memory else None}
    return {**ready, **measured, **after, "questions": len(asked), "warmup": warmup,
            "load_average_after": _load()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--factory", default="Flat")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not args.skip_ingest and not args.paths:
        parser.error("name the paths to ingest, or --skip-ingest")
    env = {"CITEQA_INDEX_DIR": str(args.index.resolve()), "CITEQA_FAISS_FACTORY": args.factory}
    result: dict[str, Any] = {"paths": [str(p) for p in args.paths], "factory": args.factory,
                              "cpus": os.cpu_count()}
    if not args.skip_ingest:
        result["ingest"] = run_ingest(args.paths, env)
        print(json.dumps(result["ingest"]), flush=True)
    result["collection"] = collection_facts(args.index)
    if "ingest" in result:
        result["ingest"]["chars_per_s"] = round(
            result["collection"]["chars"] / result["ingest"]["seconds"])
    print(json.dumps(result["collection"]), flush=True)
    result["serve"] = run_serve(env, questions(args.questions), args.warmup)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
