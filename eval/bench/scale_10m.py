"""The measured path to 10M vectors: a compressed IVF index built block by block, so the float32
collection (14.3 GiB at 10M x 384) is never held in memory at once.

The collection is eval.bench.vectors_gen's block-reproducible one (real MiniLM vectors first, then
synthetic mixtures). One streaming pass generates each block, adds it to the trained index and
folds it into the exact top-k of every query (ground truth without a second pass). Then the index
is written to a file (its serialized size) and the search parameters are swept one query at a
time against the exact answers. Standalone:
``python -m eval.bench.scale_10m --size 10000000`` writes eval/results/bench/scale-10m.{json,md}
and logs progress to var/bench/scale-10m.log.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.vectors import (
    TRAIN_POINTS_PER_CENTROID,
    VectorIndex,
    fit_factory,
    skip_polysemous_training,
)

from ..markdown_table import markdown_table
from . import machine
from .measure import rss_bytes
from .scale_dense import (
    RECALL_TARGET,
    IndexKind,
    K,
    OperatingPoint,
    nlist_for,
    pick_best,
    sweep_params,
)
from .vectors_gen import BLOCK, MixtureModel, collection_block, iter_collection

FACTORY = "IVF{nlist}_HNSW32,PQ48,Refine(SQ8)"
SWEEP = tuple(f"nprobe={p},k_factor_rf={r}" for p in (16, 32, 64, 128, 256)
              for r in (4, 16, 64))
BUILD_THREADS = 2
RESULTS_DIR = Path("eval/results/bench")
LOG = Path("var/bench/scale-10m.log")
INDEX_FILE = Path("var/bench/scale-10m.faiss")
GIB = 1024**3


@dataclass(frozen=True)
class Stage:
    """One stage of the build: seconds, and resident memory when it ended."""

    name: str
    seconds: float
    rss_after_bytes: int


@dataclass
class Report10M:
    size: int
    factory: str  # as built (fit to the size)
    faiss_class: str
    dim: int
    train_points: int
    build_threads: int
    block_rows: int
    omp_wait_policy: str  # PASSIVE keeps idle OpenMP threads from spinning on a shared machine
    sources: dict[str, str]
    machine: dict[str, Any]
    stages: list[Stage] = field(default_factory=list)
    build_s: float = 0.0  # train + add (FAISS calls only; generation and ground truth apart)
    rss_baseline_bytes: int = 0  # before the build (inputs, libraries, the model if loaded)
    peak_rss_bytes: int = 0  # high-water mark from the baseline on
    index_file_bytes: int = 0
    load_average: dict[str, list[float]] = field(default_factory=dict)
    timed_queries: int = 0
    neighbours: dict[str, float] = field(default_factory=dict)
    sweep: list[OperatingPoint] = field(default_factory=list)
    best: OperatingPoint | None = None
    target_met: bool = False


class StreamingTopK:
    """Exact inner-product top-k of every query over a collection seen one block at a time (ids
    ascending within ties, as scale_dense.exact_top_k)."""

    def __init__(self, queries: np.ndarray, k: int = K) -> None:
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.k = k
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.ids = np.zeros((len(queries), 0), dtype=np.int64)

    def add(self, start: int, block: np.ndarray) -> None:
        scores, ids = faiss.knn(self.queries, block, min(self.k, len(block)),
                                metric=faiss.METRIC_INNER_PRODUCT)
        all_s = np.concatenate([self.scores, scores], axis=1)
        all_i = np.concatenate([self.ids, ids + start], axis=1)
        keep = np.lexsort((all_i, -all_s), axis=1)[:, : self.k]
        self.scores = np.take_along_axis(all_s, keep, axis=1)
        self.ids = np.take_along_axis(all_i, keep, axis=1)


def peak_rss_bytes() -> int:
    """The process's resident high-water mark (VmHWM; 0 where /proc is unavailable)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return 0
    kib = next((ln.split()[1] for ln in lines if ln.startswith("VmHWM:")), "0")
    return int(kib) * 1024


def reset_peak_rss() -> bool:
    """Restart the high-water mark from the current RSS (Linux clear_refs 5), so the peak covers
    the build only, not the model loaded earlier; False where the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _train(index: faiss.Index, model: MixtureModel, size: int, block: int) -> int:
    """Train on the collection's first rows (blocks are independent draws, so a prefix is a fair
    sample): TRAIN_POINTS_PER_CENTROID per IVF list, at least the PQ's 256 x 39."""
    if index.is_trained:  # the exact fallback for a collection too small to train
        return 0
    ivf = faiss.extract_index_ivf(index)
    points = min(size, max(TRAIN_POINTS_PER_CENTROID * ivf.nlist, 256 * 39))
    skip_polysemous_training(index)
    # k-means assigns points with a flat index by default: every point against every list, each
    # iteration, which dominates the build at 10M. An HNSW over the centroids (rebuilt each
    # iteration) assigns them far faster. FAISS does not own it: unset after training.
    graph = faiss.IndexHNSWFlat(model.dim, 32)
    if isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW):
        ivf.clustering_index = graph
    try:
        index.train(collection_block(model, size, 0, points, block=block))
    finally:
        ivf.clustering_index = None  # type: ignore[assignment]  # the C++ field takes nullptr
    return points


def build_and_measure(
    real: np.ndarray, queries: np.ndarray, size: int, *, factory: str = FACTORY,
    nlist: int | None = None, sweep: Sequence[str] = SWEEP, block: int = BLOCK,
    threads: int = BUILD_THREADS, index_file: Path = INDEX_FILE, keep_index: bool = False,
    sources: dict[str, str] | None = None, log: Callable[[str], None] | None = None,
) -> Report10M:
    """Build ``factory`` over the ``size``-row collection grown from ``real`` in one streaming
    pass, write it to ``index_file`` and sweep ``sweep`` one query at a time on one thread."""
    if size < 1 or block < 1:
        raise ValueError("size and block must be positive")
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    model = MixtureModel.fit(real)
    fitted = fit_factory(factory.format(nlist=nlist or nlist_for(size)), size)
    index = faiss.index_factory(model.dim, fitted, faiss.METRIC_INNER_PRODUCT)
    threads_before = faiss.omp_get_max_threads()
    report = Report10M(size, fitted, type(faiss.downcast_index(index)).__name__, model.dim, 0,
                       threads, block, os.environ.get("OMP_WAIT_POLICY", "(unset)"),
                       dict(sources or {}), machine.describe())
    report.load_average["start"] = machine.load_average()
    gc.collect()
    reset_peak_rss()
    report.rss_baseline_bytes = rss_bytes()
    try:
        faiss.omp_set_num_threads(threads)
        exact_ids = _build(index, model, queries, report, say)
        report.stages.append(_timed("write", lambda: faiss.write_index(index, str(index_file))))
        report.index_file_bytes = index_file.stat().st_size
        report.peak_rss_bytes = peak_rss_bytes()
        say(f"wrote {index_file}: {report.index_file_bytes / GIB:.3f} GiB; peak RSS "
            f"{report.peak_rss_bytes / GIB:.2f} GiB")
        faiss.omp_set_num_threads(1)  # single-query latency, as the scale section
        _measure_search(index, queries, exact_ids, report, sweep, say)
    finally:
        faiss.omp_set_num_threads(threads_before)
        if not keep_index:
            index_file.unlink(missing_ok=True)
    report.load_average["end"] = machine.load_average()
    return report


def _timed(name: str, call: Callable[[], object]) -> Stage:
    started = time.perf_counter()
    call()
    return Stage(name, round(time.perf_counter() - started, 2), rss_bytes())


def _build(index: faiss.Index, model: MixtureModel, queries: np.ndarray, report: Report10M,
           say: Callable[[str], None]) -> np.ndarray:
    """Train, then add the collection block by block; returns the queries' exact top-K ids."""
    size, block = report.size, report.block_rows
    started = time.perf_counter()
    report.train_points = _train(index, model, size, block)
    report.stages.append(Stage("train (incl. generating the sample)",
                               round(time.perf_counter() - started, 2), rss_bytes()))
    say(f"trained {report.factory} on {report.train_points:,} vectors in "
        f"{report.stages[-1].seconds} s")
    exact = StreamingTopK(queries)
    spent = {"generate": 0.0, "add": 0.0, "exact": 0.0}
    loads: list[list[float]] = []
    clock = time.perf_counter()
    for start, rows in iter_collection(model, size, block=block):
        now = time.perf_counter()
        spent["generate"] += now - clock
        index.add(rows)
        spent["add"] += (clock := time.perf_counter()) - now
        exact.add(start, rows)
        spent["exact"] += (now := time.perf_counter()) - clock
        clock = now
        done = start + len(rows)
        if (done // block) % 16 == 0 or done == size:
            loads.append(machine.load_average())
            say(f"added {done:,}/{size:,}: generate {spent['generate']:.0f} s, add "
                f"{spent['add']:.0f} s, exact {spent['exact']:.0f} s; RSS "
                f"{rss_bytes() / GIB:.2f} GiB; load {loads[-1]}")
    for name, seconds in spent.items():
        report.stages.append(Stage(name, round(seconds, 2), rss_bytes()))
    report.build_s = round(report.stages[0].seconds + spent["add"], 2)
    report.load_average["during_add_mean_1min"] = [
        round(float(np.mean([x[0] for x in loads])), 2) if loads and loads[0] else 0.0]
    report.neighbours = {"top1": round(float(exact.scores[:, 0].mean()), 4),
                         "top10": round(float(exact.scores[:, K - 1].mean()), 4)}
    return exact.ids


def _measure_search(index: faiss.Index, queries: np.ndarray, exact_ids: np.ndarray,
                    report: Report10M, sweep: Sequence[str], say: Callable[[str], None]) -> None:
    report.timed_queries = len(queries)
    kind = IndexKind("ivfpq+sq8", report.factory, tuple(sweep))
    points = sweep_params(VectorIndex(index), kind, queries, exact_ids)
    for p in points:
        say(f"{p.params}: recall@{K} {p.recall_at_10} p50 {p.p50_ms} ms p99 {p.p99_ms} ms")
    report.sweep = points
    report.best, report.target_met = pick_best(points)


# ---- rendering and command line ----------------------------------------------------------------


def render(report: Report10M) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON-able dict."""
    data = asdict(report)
    best = report.best
    stages = "; ".join(f"{s.name} {s.seconds} s" for s in report.stages)
    lines = [
        f"## Dense search at {report.size:,} vectors, built block by block", "",
        f"Index: `{report.factory}` ({report.faiss_class}, inner product), {report.dim}-d. "
        f"Trained on the collection's first {report.train_points:,} vectors, then the "
        f"collection added {report.block_rows:,} rows at a time: the float32 vectors "
        f"({report.size * report.dim * 4 / GIB:.2f} GiB) are never in memory at once. Builds on "
        f"{report.build_threads} FAISS threads (`faiss.omp_set_num_threads"
        f"({report.build_threads})`, OMP_WAIT_POLICY={report.omp_wait_policy}), polysemous PQ "
        "training off; queries one at a time on one "
        f"thread, top-{K}, recall@{K} against exact inner-product search over the same "
        "vectors (computed in the same streaming pass).", "",
        *(f"- {name}: {text}" for name, text in report.sources.items()), "",
        f"Machine: {report.machine.get('cpus')} CPUs ({report.machine.get('cpu')}), "
        f"{report.machine.get('memory_gib')} GiB; load average at start "
        f"{report.load_average.get('start')}, mean 1-min load while adding "
        f"{report.load_average.get('during_add_mean_1min')}, at end "
        f"{report.load_average.get('end')} (the machine is shared).", "",
        "| measure | value |", "|---|---|",
        f"| build (train + add) | {report.build_s:,} s |",
        f"| stages | {stages} |",
        f"| RSS before the build | {report.rss_baseline_bytes / GIB:.2f} GiB |",
        f"| peak RSS (build, write and search) | {report.peak_rss_bytes / GIB:.2f} GiB |",
        f"| serialized (faiss.write_index) | {report.index_file_bytes / GIB:.3f} GiB "
        f"({report.index_file_bytes / report.size:.1f} bytes/vector) |",
        f"| exact neighbours: mean top-1 / top-10 similarity | "
        f"{report.neighbours.get('top1')} / {report.neighbours.get('top10')} |",
        f"| operating point (fastest with recall@{K} >= {RECALL_TARGET}) | "
        + (f"{best.params}{'' if report.target_met else ' (below target)'}: recall@{K} "
           f"{best.recall_at_10}, p50 {best.p50_ms} ms, p99 {best.p99_ms} ms |" if best
           else "— |"),
        "", f"Sweep ({report.timed_queries} queries each):", "",
        *markdown_table(("params", "recall@10", "p50 ms", "p99 ms"),
                        [(p.params, p.recall_at_10, p.p50_ms, p.p99_ms) for p in report.sweep],
                        cell=str),
        "",
    ]
    return "\n".join(lines), data


def main(argv: Sequence[str] | None = None) -> int:
    from .scale import load_inputs, write_results

    parser = argparse.ArgumentParser(prog="python -m eval.bench.scale_10m", description=__doc__)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--factory", default=FACTORY, help="FAISS factory; {nlist} is filled in")
    parser.add_argument("--nlist", type=int, default=None, help="default: nlist_for(size)")
    parser.add_argument("--queries", type=int, default=500, help="questions used (of 500)")
    parser.add_argument("--threads", type=int, default=BUILD_THREADS)
    parser.add_argument("--index-dir", type=Path, default=Path("var/bench/squad-index"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--name", default="scale-10m", help="results file stem")
    parser.add_argument("--log", type=Path, default=LOG)
    parser.add_argument("--index-file", type=Path, default=INDEX_FILE)
    parser.add_argument("--keep-index", action="store_true")
    parser.add_argument("--no-model", action="store_true",
                        help="synthetic query vectors instead of encoding the questions")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, file=sys.stderr, flush=True)
        with args.log.open("a", encoding="utf-8") as fh:
            fh.write(stamped + "\n")

    try:
        if args.size < 1 or args.queries < 1:
            raise ValueError("--size and --queries must be positive")
        inputs = load_inputs(args.index_dir, encode_questions=not args.no_model)
        sources = {k: v for k, v in inputs.sources.items() if k != "texts"}
        sources["vectors"] = sources["vectors"].replace(
            "then synthetic:", f"then synthetic, each {BLOCK:,}-row block from its own random "
            "stream (vectors_gen.collection_block):")
        log(f"start: size {args.size:,}, pid {os.getpid()}")
        report = build_and_measure(
            inputs.real_vectors, inputs.query_vectors[: args.queries], args.size,
            factory=args.factory, nlist=args.nlist, threads=args.threads,
            index_file=args.index_file, keep_index=args.keep_index, sources=sources, log=log)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"citeqa bench scale-10m: {exc}", file=sys.stderr)
        return 2
    markdown, data = render(report)
    write_results(markdown, data, args.name, args.out)
    log(f"done: wrote {args.out / args.name}.md")
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
