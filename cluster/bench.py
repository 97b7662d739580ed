"""Measurements of the cluster path (``python -m cluster.bench --help``): sharded ingest with 1
and 2 embedding workers, serving latency of the cluster app against one process (both over
HTTP), and a shard replica killed during a load run. Figures go to stdout as JSON lines, each
with the load average when it was taken; nothing here is asserted.

It starts its own local loopback cluster (``auto``) and its own ``citeqa serve`` child for the
one-process figures, and builds its indexes under ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from index.config import IngestConfig
from service.ports import free_port

from .ingest import ingest_sharded
from .ray_connect import connect
from .ray_ingest import build_on_ray, embed_on_ray, files_to_embed

# The benchmark is one client asking as fast as it can: the per-client rate limit is lifted.
UNLIMITED = {"CITEQA_RATE_LIMIT_PER_MINUTE": "1000000", "CITEQA_RATE_LIMIT_BURST": "1000000"}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps({**record, "loadavg": _load()}), flush=True)



def _make_encoder() -> Any:
    from service.settings import Settings
    from service.wiring import make_encoder

    return make_encoder(Settings(encoder_threads=1))


def ingest_throughput(ray: Any, corpus: Path, work: Path, workers: int) -> None:
    """The embedding stage alone (Ray Data), then the whole sharded ingest."""
    from index.sources import find_sources

    from .ingest import ShardJob

    index_dir = work / f"ingest-{workers}w"
    shutil.rmtree(index_dir, ignore_errors=True)
    config = IngestConfig()
    files = tuple(s.path for s in find_sources([corpus]))
    started = time.perf_counter()
    rows = files_to_embed([ShardJob(0, index_dir / "none", files)], config)
    vectors = embed_on_ray(ray, rows, _make_encoder, config, workers)
    embed_s = time.perf_counter() - started
    sentences = sum(len(v) for shard in vectors.values() for v in shard.values())
    started = time.perf_counter()
    report = ingest_sharded([corpus], index_dir, 3,
                            build_on_ray(ray, _make_encoder, config, workers))
    seconds = time.perf_counter() - started
    _emit({"what": "sharded ingest", "workers": workers, "documents": report.documents,
           "sentences": report.sentences, "embed_s": round(embed_s, 2),
           "embedded_sentences_per_s": round(sentences / embed_s, 1),
           "ingest_s": round(seconds, 2),
           "ingest_sentences_per_s": round(report.sentences / seconds, 1)})


def _latencies(base: str, questions: list[str],
               stages: dict[str, list[float]] | None = None) -> list[float]:
    """Wall time of each /v1/ask; ``stages`` collects the answers' own ``timings_ms``."""
    out = []
    with httpx.Client(timeout=60) as client:
        for question in questions:
            t0 = time.perf_counter()
            response = client.post(f"{base}/v1/ask", json={"question": question})
            out.append((time.perf_counter() - t0) * 1e3)
            response.raise_for_status()
            if stages is not None:
                for stage, ms in response.json()["timings_ms"].items():
                    stages.setdefault(stage, []).append(ms)
    return out


def _summary(name: str, values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"what": name, "n": len(values), "p50_ms": round(statistics.median(values), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1)}


def wait_ready(base: str, limit_s: float = 300, *, path: str = "/readyz") -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} never became ready")


def serving_latency(ray: Any, one_index: Path, sharded: Path, questions: list[str]) -> str:
    """p50/p90 of /v1/ask over HTTP: one process (``citeqa serve``) and the cluster app, both
    up at once and asked alternately, question by question (the machine's load then weighs on
    both alike); the cluster with shard speculation off, then on. Returns the cluster's URL."""
    from ray import serve

    from service.settings import Settings

    from .ray_serve import deploy

    port = free_port()
    env = {**os.environ, "CITEQA_INDEX_DIR": str(one_index), **UNLIMITED}
    child = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                             env=env, stderr=subprocess.DEVNULL)
    cluster = ""
    try:
        one = f"http://127.0.0.1:{port}"
        wait_ready(one)
        _latencies(one, questions[:5])  # warm-up
        cluster_port = free_port()
        for speculation in (False, True):
            settings = Settings(index_dir=sharded, shard_timeout_s=5.0,
                                rate_limit_per_minute=1e6, rate_limit_burst=1_000_000,
                                shard_speculation=speculation)
            serve.shutdown()  # Serve reads where to listen when it starts, so start it afresh
            deploy(ray, settings, "127.0.0.1", cluster_port)
            cluster = f"http://127.0.0.1:{cluster_port}"
            wait_ready(cluster)
            _latencies(cluster, questions[:5])
            _compare(one, cluster, questions, f"speculation {'on' if speculation else 'off'}")
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    return cluster


def _compare(one: str, cluster: str, questions: list[str], label: str) -> None:
    times: dict[str, list[float]] = {one: [], cluster: []}
    stages: dict[str, dict[str, list[float]]] = {one: {}, cluster: {}}
    for i, question in enumerate(questions):
        for base in ((one, cluster) if i % 2 else (cluster, one)):
            times[base] += _latencies(base, [question], stages[base])
    for name, base in (("one process /v1/ask", one),
                       (f"cluster /v1/ask (3 shards, {label})", cluster)):
        _emit({**_summary(name, times[base]), "stage_p50_ms": {
            stage: round(statistics.median(v), 1) for stage, v in stages[base].items()}})
    overhead = [c - o for c, o in zip(times[cluster], times[one], strict=True)]
    _emit({"what": f"cluster ({label}) minus one process, per question",
           "p50_ms": round(statistics.median(overhead), 1)})


def kill_during_load(base: str, questions: list[str], seconds: float, kill_at: float) -> None:
    import psutil

    codes: list[tuple[float, int, float]] = []  # (sent at, status, seconds taken)
    started = time.monotonic()

    def load() -> None:
        with httpx.Client(timeout=60) as client:
            i = 0
            while time.monotonic() - started < seconds:
                sent = time.monotonic() - started
                response = client.post(f"{base}/v1/ask",
                                       json={"question": questions[i % len(questions)]})
                codes.append((sent, response.status_code, time.monotonic() - started - sent))
                i += 1

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(kill_at)
    victim = next(p for p in psutil.Process().children(recursive=True)
                  if "ServeReplica" in " ".join(p.cmdline()) and "shard-01" in " ".join(
                      p.cmdline()))
    killed = time.monotonic() - started
    os.kill(victim.pid, signal.SIGKILL)
    worker.join()
    errors = [t for t, c, _ in codes if c != 200]
    # Recovered: the first answer sent after the kill (and after the last error) that took no
    # longer than the slowest answer before the kill.
    normal = max((d for t, c, d in codes if t < killed and c == 200), default=0.0)
    after = [t + d for t, c, d in codes
             if c == 200 and t > max([killed, *errors]) and d <= normal]
    _emit({"what": "shard-01 replica killed under load", "requests": len(codes),
           "errors": len(errors), "error_codes": sorted({c for _, c, _ in codes if c != 200}),
           "killed_at_s": round(killed, 2),
           "slowest_after_kill_s": round(max((d for t, _, d in codes if t + d >= killed),
                                             default=0.0), 2),
           "recovered_after_s": round(after[0] - killed, 2) if after else None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True, help="JSONL with 'question'")
    parser.add_argument("--work", type=Path, default=Path("var/cluster-bench"))
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--only-ingest", action="store_true")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    questions = [json.loads(line)["question"] for line in
                 args.questions.read_text().splitlines() if line.strip()][: args.count]
    ray = connect("auto", num_cpus=2)
    try:
        if not args.skip_ingest:
            for workers in (1, 2):
                ingest_throughput(ray, args.corpus, args.work, workers)
        if args.only_ingest:
            return 0
        one = args.work / "one"
        if not (one / "CURRENT").exists():
            from index.pipeline import ingest

            ingest([args.corpus], one, _make_encoder(), progress=False)
        base = serving_latency(ray, one, args.work / "ingest-2w", questions)
        kill_during_load(base, questions, seconds=40, kill_at=10)
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
