"""One ``citeqa bench`` run: which sections, at which sizes, in which order.

Sections run one after another (never two at once: they would share the cores), each returning a
typed result; ``report`` turns the lot into JSON and markdown. A section whose inputs are missing
(no SQuAD index) or that was left out (``--no-encoders``) is recorded as skipped, with why.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import coldstart, ingest, latency, served_index, throughput
from .machine import describe, load_average
from .profile import profile_asks
from .server import UNLIMITED, process_memory, serve


@dataclass(frozen=True)
class Sizes:
    ask_questions: int = 200  # timed asks per latency series
    squad_questions: int = 500
    warmup: int = 10
    concurrencies: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    step_requests: int = 600
    step_seconds: float = 20.0
    cold_starts: int = 3
    encode_texts: int = 192
    encode_rounds: int = 3
    embed_questions: int = 200
    profile_questions: int = 100


QUICK = Sizes(ask_questions=20, squad_questions=20, warmup=3, concurrencies=(1, 2, 4),
              step_requests=60, step_seconds=5.0, cold_starts=1, encode_texts=12,
              encode_rounds=1, embed_questions=10, profile_questions=10)


@dataclass(frozen=True)
class BenchConfig:
    settings: Any  # service.settings.Settings: the seed index, model and backend to serve
    sizes: Sizes = field(default_factory=Sizes)
    squad_index: Path | None = None  # None: no SQuAD section
    corpus: Path = Path("seeds")  # what the ingest section ingests
    encoders: bool = True  # fp32 vs int8 side by side, and the ingest runs per backend
    profile: bool = True
    scale: bool = False
    peers: bool = False
    out: Path = Path("eval/results/bench")
    accuracy: dict[str, Path] = field(default_factory=dict)  # backend -> eval summary.json


@dataclass
class BenchResults:
    machine: dict[str, Any]
    config: dict[str, Any]
    load_average_start: list[float]
    load_average_end: list[float] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)  # name -> typed result
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why
    extra_markdown: dict[str, str] = field(default_factory=dict)  # scale / peers sections


def _say(line: str) -> None:
    print(f"citeqa bench: {line}", file=sys.stderr, flush=True)


def _questions(squad: bool, count: int) -> list[str]:
    """Distinct questions: the gold set, then SQuAD's (their answers do not matter for timing)."""
    from eval import datasets

    texts = [q.question for q in datasets.load_gold()]
    if squad or len(texts) < count:
        with contextlib.suppress(FileNotFoundError):  # SQuAD lives in ../shared, optional
            texts += [q.question for q in datasets.load_squad()]
    return list(dict.fromkeys(texts))


def _engine_env(settings: Any) -> dict[str, str]:
    env = dict(UNLIMITED)
    env["CITEQA_INDEX_DIR"] = str(settings.index_dir)
    env["CITEQA_MODEL"] = settings.model
    env["CITEQA_ENCODER_BACKEND"] = settings.encoder_backend
    # One intra-op thread per question (what `citeqa serve` does for torch by default).
    env["CITEQA_ENCODER_THREADS"] = str(settings.encoder_threads or 1)
    # The answer model the in-process series used, so both series answer alike.
    for name in ("answer_model_dir", "abstain_threshold", "answer_candidates"):
        value = getattr(settings, name)
        if value is not None:
            env[f"CITEQA_{name.upper()}"] = str(value)
    return env


def _set_threads(settings: Any) -> None:
    from service.wiring import limit_threads

    limit_threads(settings)


def run(config: BenchConfig) -> BenchResults:
    from service.wiring import open_engine

    settings = config.settings.model_copy(
        update={"encoder_threads": config.settings.encoder_threads or 1})
    sizes = config.sizes
    results = BenchResults(describe(), _config_dict(config), load_average())
    questions = _questions(config.squad_index is not None, sizes.ask_questions + sizes.warmup)
    warm, timed = questions[: sizes.warmup], questions[sizes.warmup:][: sizes.ask_questions]
    sec = results.sections
    _set_threads(settings)

    _say("in-process latency on the seeds")
    engine = open_engine(settings)
    sec["ask_inprocess_seeds"] = latency.in_process(engine, timed, warm, "seeds")
    sec["served_index_seeds"] = served_index.measure(engine.corpus.snapshot, "seeds")
    if config.profile:
        _say("profiling in-process asks (seeds)")
        sec["profile_seeds"] = profile_asks(
            engine, timed[: sizes.profile_questions], "seeds", config.out / "profile-seeds.txt")
    del engine

    if config.squad_index is not None:
        _squad(config, settings, results)
    else:
        results.skipped["squad"] = "no SQuAD index given"

    env = _engine_env(settings)
    _say(f"HTTP latency and throughput on the seeds ({settings.encoder_backend})")
    with serve(env) as served:
        sec["ask_http_seeds"] = latency.over_http(served.url, timed, warm, "seeds")
        sec["throughput_seeds"] = throughput.sustained(
            served.url, questions, concurrencies=sizes.concurrencies,
            requests=sizes.step_requests, max_seconds=sizes.step_seconds, server_pid=served.pid)
        sec["service_memory_after_load"] = process_memory(served.pid)
    _say("cold start")
    sec["cold_start"] = coldstart.cold_start(env, sizes.cold_starts)
    if config.encoders:
        if settings.encoder_backend != INT8:
            _serve_int8(config, settings, results, questions, timed, warm)
        _encoders(config, settings, results)
    else:
        results.skipped["encoders"] = "left out (--no-encoders)"
    _optional_sections(config, results)
    results.load_average_end = load_average()
    return results


INT8 = "onnx-int8"


def _serve_int8(config: BenchConfig, settings: Any, results: BenchResults,
                questions: list[str], timed: list[str], warm: list[str]) -> None:
    """The same HTTP latency and throughput with the int8 encoder serving its own seed index."""
    from index.embed import load_encoder
    from index.pipeline import ingest as ingest_corpus

    sizes, sec = config.sizes, results.sections
    with tempfile.TemporaryDirectory(prefix="citeqa-bench-int8-") as tmp:
        index_dir = Path(tmp) / "index"
        encoder = load_encoder(settings.model, backend=INT8)
        _say(f"{INT8}: indexing the seeds")
        ingest_corpus([config.corpus], index_dir, encoder, settings.ingest_config(),
                      progress=False)
        del encoder
        env = {**_engine_env(settings), "CITEQA_INDEX_DIR": str(index_dir),
               "CITEQA_ENCODER_BACKEND": INT8}
        _say(f"HTTP latency and throughput on the seeds ({INT8})")
        with serve(env) as served:
            sec["ask_http_seeds_int8"] = latency.over_http(
                served.url, timed, warm, f"seeds, {INT8}")
            sec["throughput_seeds_int8"] = throughput.sustained(
                served.url, questions, concurrencies=sizes.concurrencies,
                requests=sizes.step_requests, max_seconds=sizes.step_seconds,
                server_pid=served.pid)


def _squad(config: BenchConfig, settings: Any, results: BenchResults) -> None:
    from eval import datasets
    from service.wiring import open_engine

    assert config.squad_index is not None
    try:
        squad = [q.question for q in datasets.load_squad()][: config.sizes.squad_questions]
    except FileNotFoundError as exc:
        results.skipped["squad"] = f"SQuAD questions not found: {exc.filename}"
        return
    _say(f"in-process latency on SQuAD ({len(squad)} questions)")
    engine = open_engine(settings.model_copy(update={"index_dir": config.squad_index}))
    warm = [q.question for q in datasets.load_gold()][: config.sizes.warmup]
    results.sections["ask_inprocess_squad"] = latency.in_process(engine, squad, warm, "squad")
    results.sections["served_index_squad"] = served_index.measure(engine.corpus.snapshot, "squad")
    if config.profile:
        _say("profiling in-process asks (SQuAD)")
        results.sections["profile_squad"] = profile_asks(
            engine, squad[: config.sizes.profile_questions], "squad",
            config.out / "profile-squad.txt")
    del engine
    # The answer model's budget is set over HTTP on SQuAD: a user's view, on a larger corpus.
    _say(f"HTTP latency on SQuAD ({settings.encoder_backend})")
    env = {**_engine_env(settings), "CITEQA_INDEX_DIR": str(config.squad_index)}
    with serve(env) as served:
        results.sections["ask_http_squad"] = latency.over_http(served.url, squad, warm, "squad")


def _encoders(config: BenchConfig, settings: Any, results: BenchResults) -> None:
    import torch

    from index.embed import BACKENDS, load_encoder, resolve_model_path
    from index.embed_onnx import prepare_export

    sizes, sec = config.sizes, results.sections
    _say("encoder backends: export (cached after the first run)")
    prepare_export(settings.model)
    source = config.squad_index or settings.index_dir
    texts = ingest.chunk_texts(_current_version(source), sizes.encode_texts)
    model_path = resolve_model_path(settings.model)
    tokens = ingest.count_tokens(texts, model_path / "tokenizer.json", 256)

    def pair(threads: int | None) -> dict[str, Any]:
        torch.set_num_threads(threads or os.cpu_count() or 1)  # None: every core, as ingest does
        return {
            "torch": load_encoder(settings.model, backend="torch"),
            **{backend: load_encoder(settings.model, backend=backend, threads=threads)
               for backend in ("onnx-fp32", "onnx-int8")},
        }

    _say(f"encoder backends: {len(texts)} chunks ({tokens} tokens), all cores, side by side")
    every_core = pair(None)
    sec["encode_all_cores"] = ingest.encode_rates(every_core, texts, tokens, sizes.encode_rounds)
    mix = ingest.ingest_texts(_current_version(source), sizes.encode_texts)
    mix_tokens = ingest.count_tokens(mix, model_path / "tokenizer.json", 256)
    _say(f"encoder backends: ingest's mix, {len(mix)} sentences and chunks ({mix_tokens} tokens)")
    sec["encode_ingest_mix"] = ingest.encode_rates(every_core, mix, mix_tokens,
                                                   sizes.encode_rounds)
    del every_core
    _say("encoder backends: query embedding, 1 thread")
    one = pair(1)
    embed_qs = _questions(True, sizes.embed_questions)[: sizes.embed_questions]
    sec["query_embedding_1_thread"] = latency.query_embedding(one, embed_qs)
    del one
    _say(f"whole ingest of {config.corpus} per backend")
    env = _engine_env(settings)
    env.pop("CITEQA_ENCODER_THREADS")
    sec["ingest_runs"] = [ingest.ingest_run(config.corpus, env, b) for b in BACKENDS]
    sec["answer_accuracy"] = _accuracy(config.accuracy)


def _current_version(index_dir: Path) -> Path:
    name = (index_dir / "CURRENT").read_text().split()[0]
    return index_dir / name


def _accuracy(summaries: dict[str, Path]) -> dict[str, float | None]:
    import json

    out: dict[str, float | None] = {}
    for backend, path in summaries.items():
        try:
            metrics = json.loads(path.read_text())["metrics"]["hybrid"]
            out[backend] = metrics["answer_at_1"]
        except (OSError, KeyError, ValueError):
            out[backend] = None
    return out


SCALE_SIZES, QUICK_SCALE_SIZES = (100_000, 1_000_000), (10_000,)
QUICK_PEER_QUESTIONS = 50


def _scale(config: BenchConfig) -> tuple[str, dict[str, Any]]:
    from .scale import load_inputs, render, run_scale

    quick = config.sizes == QUICK
    assert config.squad_index is not None
    inputs = load_inputs(config.squad_index, encode_questions=not quick)
    return render(run_scale(inputs, QUICK_SCALE_SIZES if quick else SCALE_SIZES))


def _peers(config: BenchConfig) -> tuple[str, dict[str, Any]]:
    from eval.datasets import load_squad

    from .peers import render, run_peers

    assert config.squad_index is not None
    questions = load_squad()
    if config.sizes == QUICK:
        questions = questions[:QUICK_PEER_QUESTIONS]
    return render(run_peers(config.squad_index, questions))


def _optional_sections(config: BenchConfig, results: BenchResults) -> None:
    """Scale and peers (eval/bench/scale.py, peers.py) run over the SQuAD index."""
    sections: dict[str, Callable[[BenchConfig], tuple[str, dict[str, Any]]]] = {
        "scale": _scale, "peers": _peers}
    for name, section in sections.items():
        if not getattr(config, name):
            continue
        if config.squad_index is None:
            results.skipped[name] = "needs the SQuAD index"
            continue
        _say(f"{name} section")
        try:
            markdown, data = section(config)
        except Exception as exc:  # noqa: BLE001  (an optional section never loses the rest)
            results.skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            continue
        results.extra_markdown[name] = markdown
        results.sections[name] = data


def _config_dict(config: BenchConfig) -> dict[str, Any]:
    s = config.settings
    return {
        "quick": config.sizes == QUICK, "sizes": asdict(config.sizes),
        "index_dir": str(s.index_dir), "squad_index": str(config.squad_index or ""),
        "model": s.model, "encoder_backend": s.encoder_backend,
        "torch_threads": s.torch_threads, "encoder_threads": s.encoder_threads or 1,
    }
