"""Ingest speed of several checkouts or settings side by side: the same corpus, runs alternating.

    python -m eval.bench.ingest_compare --corpus ../shared/bench/squad-v1.1-dev/corpus \
        --checkout before=/tmp/before --checkout now=. --rounds 3
    python -m eval.bench.ingest_compare --corpus DOCS \
        --setting one=CITEQA_INGEST_LOADERS=0 --setting loader=CITEQA_INGEST_LOADERS=1

Each run is a whole ``citeqa ingest`` of the corpus into a fresh directory, in a subprocess started
in the checkout (so its own code is imported) with this interpreter's packages; a ``--setting``
runs this checkout with the environment it names. Variants take turns round by round, so a shared
machine's load falls on all of them alike; the median per variant is reported with the load
average around each run. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ingest import ingest_run


def corpus_chars(corpus: Path) -> int:
    """Characters in the corpus's files as read (what ingest segments and embeds)."""
    return sum(len(p.read_text(encoding="utf-8", errors="replace"))
               for p in sorted(corpus.rglob("*")) if p.is_file())


@dataclass(frozen=True)
class Variant:
    """What one side of the comparison runs: a checkout's code with extra environment."""

    checkout: Path
    env: Mapping[str, str] = field(default_factory=dict)


def compare(variants: Mapping[str, Path | Variant], corpus: Path, rounds: int,
            backend: str = "onnx-fp32") -> dict[str, Any]:
    """``rounds`` ingests of ``corpus`` per variant (a checkout, or a ``Variant``), alternating;
    the first variant is the baseline of the ratios."""
    sides = {name: v if isinstance(v, Variant) else Variant(v) for name, v in variants.items()}
    chars = corpus_chars(corpus)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            load_before = os.getloadavg()[0]
            run = ingest_run(corpus, side.env, backend, cwd=side.checkout)
            runs[name].append({
                "seconds": run.seconds, "reported_seconds": run.reported_seconds,
                "chars_per_s": round(chars / run.seconds),
                "sentences_per_s": round(run.sentences / run.seconds, 1),
                "peak_rss_mib": round(run.peak_rss_bytes / 2**20, 1),
                "sentences": run.sentences, "chunks": run.chunks,
                "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            })
    summary = {
        name: {"median_seconds": statistics.median(r["seconds"] for r in results),
               "median_chars_per_s": statistics.median(r["chars_per_s"] for r in results),
               "median_sentences_per_s":
                   statistics.median(r["sentences_per_s"] for r in results)}
        for name, results in runs.items()
    }
    first = next(iter(summary))
    for name in summary:
        summary[name]["speedup_vs_" + first] = round(
            summary[first]["median_seconds"] / summary[name]["median_seconds"], 2)
    return {"corpus": str(corpus), "chars": chars, "backend": backend, "rounds": rounds,
            "variants": {name: {"checkout": str(side.checkout), "env": dict(side.env)}
                         for name, side in sides.items()},
            "summary": summary, "runs": runs}


def _checkout(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME=DIRECTORY, got {value!r}")
    return name, Path(path).resolve()


def _setting(value: str) -> tuple[str, Variant]:
    """NAME=KEY=VALUE[,KEY=VALUE...]: this checkout with that environment."""
    name, _, assignments = value.partition("=")
    pairs = [a.partition("=") for a in assignments.split(",")] if assignments else []
    if not name or not pairs or any(not key or not eq for key, eq, _ in pairs):
        raise argparse.ArgumentTypeError(
            f"expected NAME=KEY=VALUE[,KEY=VALUE...], got {value!r}")
    return name, Variant(Path.cwd(), {key: setting for key, _, setting in pairs})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--checkout", type=_checkout, action="append", default=[],
                        help="NAME=DIRECTORY; the first variant is the baseline of the ratios")
    parser.add_argument("--setting", type=_setting, action="append", default=[],
                        help="NAME=KEY=VALUE[,KEY=VALUE...]: this checkout with that environment")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="onnx-fp32")
    args = parser.parse_args(argv)
    variants: dict[str, Path | Variant] = {**dict(args.checkout), **dict(args.setting)}
    if len(variants) < 2:
        parser.error("name at least two variants (--checkout or --setting), with distinct names")
    print(json.dumps(compare(variants, args.corpus, args.rounds, args.backend), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
