"""Cold start: spawn ``citeqa serve``, time until /readyz answers 200; and where that time goes.

The phases (imports, model load, index load) are timed in a separate fresh interpreter that does
what the service's startup does, step by step: ``python -m eval.bench.coldstart`` prints them as
JSON. Process start-up and uvicorn's own start are what remains of the ready time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .server import Memory, process_memory, serve


@dataclass(frozen=True)
class ColdStart:
    runs: int
    ready_s: list[float]  # each run, spawn to /readyz 200
    median_s: float
    phases_s: dict[str, float]  # from one separate interpreter: imports, encoder, index
    memory_at_ready: Memory | None


def cold_start(env: Mapping[str, str], runs: int = 3) -> ColdStart:
    times, memory = [], None
    for _ in range(runs):
        with serve(dict(env)) as served:
            times.append(round(served.ready_s, 3))
            memory = process_memory(served.pid)
    return ColdStart(runs, times, round(statistics.median(times), 3), phases(env), memory)


def phases(env: Mapping[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "eval.bench.coldstart"], env={**os.environ, **env},
        capture_output=True, text=True, timeout=300, check=False,
    )
    if done.returncode != 0:
        return {}
    return {k: float(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def _measure_phases() -> dict[str, float]:
    t0 = time.perf_counter()
    from service.app import create_app  # noqa: F401  (what `citeqa serve` imports)
    from service.settings import Settings
    from service.wiring import limit_threads, make_encoder, open_engine

    t1 = time.perf_counter()
    settings = Settings()  # type: ignore[call-arg]
    limit_threads(settings)
    encoder = make_encoder(settings, for_questions=True)
    t2 = time.perf_counter()
    open_engine(settings, encoder)
    t3 = time.perf_counter()
    return {"imports": round(t1 - t0, 3), "encoder": round(t2 - t1, 3),
            "index": round(t3 - t2, 3)}


if __name__ == "__main__":
    print(json.dumps(_measure_phases()))
