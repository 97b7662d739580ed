"""Ingest speed of several checkouts side by side: the same corpus, runs alternating between them.

    python -m eval.bench.ingest_compare --corpus ../shared/bench/squad-v1.1-dev/corpus \
        --checkout before=/tmp/before --checkout now=. --rounds 3

Each run is a whole ``citeqa ingest`` of the corpus into a fresh directory, in a subprocess started
in the checkout (so its own code is imported) with this interpreter's packages. Checkouts take
turns round by round, so a shared machine's load falls on all of them alike; the median per
checkout is reported with the load average around each run. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from .ingest import ingest_run


def corpus_chars(corpus: Path) -> int:
    """Characters in the corpus's files as read (what ingest segments and embeds)."""
    return sum(len(p.read_text(encoding="utf-8", errors="replace"))
               for p in sorted(corpus.rglob("*")) if p.is_file())


def compare(checkouts: dict[str, Path], corpus: Path, rounds: int,
            backend: str = "onnx-fp32") -> dict[str, Any]:
    chars = corpus_chars(corpus)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    for _ in range(rounds):
        for name, checkout in checkouts.items():
            load_before = os.getloadavg()[0]
            run = ingest_run(corpus, {}, backend, cwd=checkout)
            runs[name].append({
                "seconds": run.seconds, "reported_seconds": run.reported_seconds,
                "chars_per_s": round(chars / run.seconds), "peak_rss_mib":
                round(run.peak_rss_bytes / 2**20, 1), "sentences": run.sentences,
                "chunks": run.chunks,
                "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            })
    summary = {
        name: {"median_seconds": statistics.median(r["seconds"] for r in results),
               "median_chars_per_s": statistics.median(r["chars_per_s"] for r in results)}
        for name, results in runs.items()
    }
    first = next(iter(summary))
    for name in summary:
        summary[name]["speedup_vs_" + first] = round(
            summary[first]["median_seconds"] / summary[name]["median_seconds"], 2)
    return {"corpus": str(corpus), "chars": chars, "backend": backend, "rounds": rounds,
            "summary": summary, "runs": runs}


def _checkout(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME=DIRECTORY, got {value!r}")
    return name, Path(path).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--checkout", type=_checkout, action="append", required=True,
                        help="NAME=DIRECTORY; the first is the baseline of the ratios")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="onnx-fp32")
    args = parser.parse_args(argv)
    print(json.dumps(compare(dict(args.checkout), args.corpus, args.rounds, args.backend),
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
