"""``citeqa bench``: latency, throughput, ingest speed per encoder backend, cold start, memory.

    citeqa bench                  # everything (scale and peers too), minutes to tens of minutes
    citeqa bench --quick          # small sizes, a minute or two: a smoke run
    citeqa bench --no-squad       # skip the SQuAD corpus (var/bench/squad-index)

Writes bench.json and bench.md (plus profile trees) to --out and prints the markdown. The machine
is shared and has two cores: the report gives medians and side-by-side ratios, and the load
average at start and end.

Exit codes: 0 done, 1 the service or an index could not be used, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
SQUAD_INDEX = Path("var/bench/squad-index")
RESULTS = Path("eval/results/bench")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "bench", help="performance benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--squad-index", type=Path, default=SQUAD_INDEX,
                   help=f"SQuAD corpus index for the in-process series (default {SQUAD_INDEX})")
    p.add_argument("--no-squad", action="store_true", help="skip the SQuAD series")
    p.add_argument("--no-encoders", action="store_true",
                   help="skip the fp32-vs-int8 encoder comparison and the ingest runs")
    p.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profiles")
    p.add_argument("--corpus", type=Path, default=Path("seeds"),
                   help="folder the ingest runs index (default seeds/)")
    p.add_argument("--scale", action="store_true", help="run the scale section (on in a full run)")
    p.add_argument("--peers", action="store_true", help="run the peers section (on in a full run)")
    p.add_argument("--no-scale", action="store_true", help="leave the scale section out")
    p.add_argument("--no-peers", action="store_true", help="leave the peers section out")
    p.add_argument("--accuracy", action="append", default=[], metavar="BACKEND=SUMMARY",
                   help="an eval summary.json per backend (onnx-fp32=..., onnx-int8=...) to "
                        "compare SQuAD answer@1 across backends")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    p.set_defaults(func=cmd_bench)


def _accuracy(pairs: list[str]) -> dict[str, Path] | None:
    from index.embed import BACKENDS

    out: dict[str, Path] = {}
    for pair in pairs:
        backend, sep, path = pair.partition("=")
        if not sep or backend not in BACKENDS:
            return None
        out[backend] = Path(path)
    return out


def cmd_bench(args: argparse.Namespace, settings: Any) -> int:
    from eval.bench.report import write
    from eval.bench.run import QUICK, BenchConfig, Sizes, run
    from eval.bench.server import ServerFailed

    accuracy = _accuracy(args.accuracy)
    if accuracy is None:
        print("citeqa bench: --accuracy takes torch=PATH or onnx-int8=PATH", file=sys.stderr)
        return EXIT_USAGE
    squad = None if args.no_squad else args.squad_index
    if squad is not None and not (squad / "CURRENT").is_file():
        print(f"citeqa bench: no index at {squad} (build it with `citeqa eval --dataset squad`, "
              "or pass --no-squad)", file=sys.stderr)
        return EXIT_USAGE
    if not args.corpus.is_dir():
        print(f"citeqa bench: corpus folder not found: {args.corpus}", file=sys.stderr)
        return EXIT_USAGE
    config = BenchConfig(
        settings=settings, sizes=QUICK if args.quick else Sizes(), squad_index=squad,
        corpus=args.corpus, encoders=not args.no_encoders, profile=not args.no_profile,
        scale=(args.scale or not args.quick) and not args.no_scale,
        peers=(args.peers or not args.quick) and not args.no_peers, out=args.out,
        accuracy=accuracy,
    )
    try:
        results = run(config)
    except ServerFailed as exc:
        print(f"citeqa bench: {exc}", file=sys.stderr)
        return EXIT_FAIL
    json_path, md_path = write(results, args.out)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return EXIT_OK
