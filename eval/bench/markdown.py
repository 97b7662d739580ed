"""The markdown report of a bench run (tables only; the numbers come from BenchResults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..markdown_table import markdown_table
from . import served_index
from .report import Target
from .run import BenchResults

MB = 1_000_000
STAGES = ("embed", "retrieve", "score", "read", "answer", "total")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return [*markdown_table(header, rows), ""]


def _targets(targets: Sequence[Target]) -> list[str]:
    rows = [(t.name, f"{'≤' if t.at_most else '≥'} {t.limit:g} {t.unit}",
             "—" if t.measured is None else f"{t.measured:g} {t.unit}", t.verdict())
            for t in targets]
    return ["## Targets", "", *_table(("target", "bar", "measured", "verdict"), rows)]


def _latency(s: dict[str, Any]) -> list[str]:
    rows = []
    for key in ("ask_http_seeds", "ask_http_seeds_int8", "ask_inprocess_seeds",
                "ask_inprocess_squad", "ask_http_squad"):
        series = s.get(key)
        if series is None:
            continue
        w = series.wall
        rows.append((f"{series.where}, {series.corpus}", "wall", series.questions,
                     w.p50_ms, w.p95_ms, w.p99_ms, w.mean_ms))
        for stage in STAGES:
            if stage in series.stages:
                st = series.stages[stage]
                rows.append(("", stage, "", st.p50_ms, st.p95_ms, st.p99_ms, st.mean_ms))
    if not rows:
        return []
    return ["## Ask latency (warm, distinct questions, one at a time)", "",
            "`wall` is the caller's clock (the HTTP round trip, or `engine.ask`); the stages are "
            "the engine's own `timings_ms` (`score` = candidate sentence features and the "
            "pre-ranker; `read` = the answer model's one batched call over the shortlist and its "
            "calibration; `answer` = quote, highlight, conflicts and citations).", "",
            *_table(("series", "stage", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms"), rows)]


def _throughput(s: dict[str, Any], backend: str) -> list[str]:
    out = []
    for key, served in (("throughput_seeds", backend), ("throughput_seeds_int8", "onnx-int8")):
        t = s.get(key)
        if t is None:
            continue
        rows = [(st.concurrency, st.sent, st.errors, st.seconds, st.rps,
                 *(("", "", "") if st.latency is None else
                   (st.latency.p50_ms, st.latency.p95_ms, st.latency.p99_ms)),
                 st.server_cpu_ms, st.client_cpu_ms,
                 "yes" if st.passes(t.p95_limit_ms) else "no") for st in t.steps]
        best = f"{t.best.rps} req/s at concurrency {t.best.concurrency}" if t.best else "none"
        out += [f"## Throughput on loopback (seeds, {served} encoder)", "",
                "Closed-loop clients (plain asyncio streams, keep-alive) on 127.0.0.1, sharing "
                f"the cores with the server. Best step with p95 ≤ {t.p95_limit_ms:g} ms and no "
                f"errors: **{best}**. CPU per request: the server process's and the load "
                "generator's own (two cores give 2,000 CPU-ms per second, so their sum bounds "
                "the rate).", "",
                *_table(("clients", "sent", "errors", "s", "req/s", "p50 ms", "p95 ms", "p99 ms",
                         "server CPU ms/req", "generator CPU ms/req", "passes"), rows)]
    return out


def _rates(rates: dict[str, Any], title: str) -> list[str]:
    base = rates.get("torch")
    rows = [(r.backend, r.texts, r.tokens, r.wall_s, r.tokens_per_s, r.chunks_per_s,
             r.cpu_s, r.cpu_tokens_per_s,
             f"{r.tokens_per_s / base.tokens_per_s:.2f}×" if base else "",
             f"{r.cpu_tokens_per_s / base.cpu_tokens_per_s:.2f}×" if base else "",
             f"{r.cosine_min} / {r.cosine_mean}")
            for r in rates.values()]
    return [title, "",
            *_table(("backend", "texts", "tokens", "wall s", "tokens/s", "texts/s",
                     "CPU s", "tokens/CPU-s", "speed-up (wall)", "speed-up (CPU)",
                     "cosine to fp32 min / mean"), rows)]


def _encoders(s: dict[str, Any]) -> list[str]:
    out = []
    sections = (("encode_ingest_mix", "### What ingest embeds: each document's sentences, then "
                 "its chunks"), ("encode_all_cores", "### Chunks alone"))
    if any(s.get(key) for key, _ in sections):
        out += ["## Encoder backends, side by side (same texts, all cores)", "",
                "torch = `SentenceTransformer.encode`, fp32 (batches of 64, sorted by length); "
                "onnx-fp32 and onnx-int8 = the local ONNX Runtime exports (index/embed_onnx.py), "
                "one unpadded text per run, a text per core. Best of the alternating rounds; CPU "
                "time counts every thread of the process: on a busy machine tokens/CPU-s is the "
                "steadier ratio.", ""]
    for key, title in sections:
        if s.get(key):
            out += _rates(s[key], title)
    embed = s.get("query_embedding_1_thread")
    if embed:
        out += ["### Query embedding, one question per call, 1 thread", "",
                *_table(("backend", "n", "p50 ms", "p95 ms", "p99 ms"),
                        [(name, lat.count, lat.p50_ms, lat.p95_ms, lat.p99_ms)
                         for name, lat in embed.items()])]
    runs = s.get("ingest_runs")
    if runs:
        out += ["### Whole `citeqa ingest` per backend (fresh index, subprocess)", "",
                *_table(("backend", "corpus", "docs", "chunks", "sentences", "command s",
                         "ingest s", "peak RSS MB"),
                        [(r.backend, r.corpus, r.documents, r.chunks, r.sentences, r.seconds,
                          r.reported_seconds, round(r.peak_rss_bytes / MB)) for r in runs])]
    accuracy = s.get("answer_accuracy")
    if accuracy:
        out += ["### answer@1 on the SQuAD sample (hybrid), per backend's own index", "",
                *_table(("backend", "answer@1"), list(accuracy.items()))]
    return out


def _cold(s: dict[str, Any]) -> list[str]:
    c = s.get("cold_start")
    if c is None:
        return []
    phases = ", ".join(f"{k} {v} s" for k, v in c.phases_s.items()) or "not measured"
    mem = c.memory_at_ready
    after = s.get("service_memory_after_load")
    lines = [f"Spawn to first /readyz 200, {c.runs} run(s): {c.ready_s} s, median "
             f"**{c.median_s} s**. Phases in a fresh interpreter: {phases}."]
    if mem:
        lines.append(f"Service RSS at ready: {mem.rss_bytes / MB:.0f} MB.")
    if after:
        lines.append(f"Service RSS after the latency and load tests: {after.rss_bytes / MB:.0f} "
                     f"MB (peak {after.peak_bytes / MB:.0f} MB).")
    return ["## Cold start and memory", "", " ".join(lines), ""]


def _profiles(s: dict[str, Any]) -> list[str]:
    out = []
    for key in ("profile_seeds", "profile_squad"):
        p = s.get(key)
        if p is None:
            continue
        rows = [(h.function, h.self_ms, f"{h.share:.1%}") for h in p.hotspots]
        out += [f"## Profile, in-process asks on {p.corpus} ({p.questions} questions, "
                f"{p.total_ms} ms profiled)", "",
                f"pyinstrument; self time per function. Full tree: `{p.tree_path}`.", "",
                *_table(("function", "self ms", "share"), rows)]
    return out


def render(results: BenchResults, targets: Sequence[Target]) -> str:
    m, s = results.machine, results.sections
    head = [
        "# citeqa bench", "",
        f"Machine: {m['cpus']} CPUs ({m['cpu']}; {', '.join(m['cpu_flags'])}), "
        f"{m['memory_gib']} GiB, Python {m['python']}. Load average at start "
        f"{results.load_average_start}, at end {results.load_average_end} (a shared machine: "
        "compare the side-by-side ratios, not single absolute times).", "",
        f"Run: {', '.join(f'{k}={v}' for k, v in results.config.items() if k != 'sizes')}.", "",
    ]
    skipped = [f"- {k}: {why}" for k, why in results.skipped.items()]
    body = [*head, *_targets(targets), *_latency(s),
            *_throughput(s, results.config.get("encoder_backend", "")), *_cold(s), *_encoders(s),
            *served_index.markdown(s), *_profiles(s)]
    if skipped:
        body += ["## Not measured in this run", "", *skipped, ""]
    for markdown in results.extra_markdown.values():
        body += [markdown, ""]
    return "\n".join(body).rstrip() + "\n"
