"""The serving process's footprint for one checkout: cold start to /readyz and RSS once ready.

    python -m eval.bench.footprint --index var/index --runs 5

Run it from each checkout being compared (each with an index it built itself), alternating
checkouts between runs when comparing, and note the load average printed with each result. Prints
one JSON line: every run's ready time and RSS, their medians, and the phases of one start
(imports, encoder, index) from a separate interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from .coldstart import phases
from .server import process_memory, serve


def footprint(index_dir: Path, runs: int) -> dict[str, object]:
    env = {"CITEQA_INDEX_DIR": str(index_dir)}
    ready, rss = [], []
    for _ in range(runs):
        with serve(env) as served:
            ready.append(round(served.ready_s, 3))
            memory = process_memory(served.pid)
            if memory is not None:
                rss.append(round(memory.rss_bytes / 2**20, 1))
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "ready_s": ready, "ready_median_s": statistics.median(ready),
        "rss_mib": rss, "rss_median_mib": statistics.median(rss) if rss else None,
        "phases_s": phases(env),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(footprint(args.index, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
