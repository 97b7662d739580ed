"""`citeqa bench` peers section: citeqa against a LangChain pipeline and txtai on the same corpus,
questions, model and machine, in one run, retrieval and answer stage both.

- corpus: the sources recorded by the given citeqa index, ingested afresh into a temporary folder
  (citeqa's build time, timed like the peers'); the fresh index's chunks are the passages every
  peer embeds and indexes itself (its build time), so a "passage" is the same unit for all;
- questions: the SQuAD sample (eval.datasets.load_squad);
- model: the bundled all-MiniLM-L6-v2 directory, loaded from disk by every system; every system
  embeds questions with a fresh instance of it, not the one that embedded the corpus;
- retrieval quality: passage recall@5 and MRR@5 by the project's own metrics
  (eval.metrics.passage_overlaps: a returned chunk overlaps the gold paragraph) and answer
  recall@5 (eval.metrics.citation_hits: the chunk contains a gold answer);
- answer stage: citeqa's ``Engine.ask`` against each peer's top passage cut into sentences, the
  sentence closest to the question by cosine under the same model; answer@1 is
  eval.metrics.answer_correct (the returned sentence contains a gold answer; an abstention is
  wrong);
- latency: one question at a time, warm, every model and FAISS on one thread, the systems taking
  turns question by question (rotating order) so load changes on a shared machine hit all alike.
  The timed calls are the scored calls (the systems are deterministic).

Standalone: ``python -m eval.bench.peers`` writes eval/results/bench/peers.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from eval import metrics
from eval.datasets import Question

from .measure import Latency

K = 5
RESULTS_DIR = Path("eval/results/bench")
WARMUP = 5
ENCODER_CHECK_QUESTIONS = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Passage:
    """A chunk as every system indexes it; offsets let the project's metrics score a hit."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    doc_id: str
    start: int
    end: int
    text: str

    def as_citation(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "passage_start": self.start, "passage_end": self.end,
                "passage": self.text, "quote": None}


@dataclass(frozen=True)
class Reply:
    """A system's answer to one question: one sentence, or an abstention (``text`` None)."""

    text: str | None
    abstained: bool


Search = Callable[[str], list[Hit]]
Answerer = Callable[[str], Reply]


@dataclass(frozen=True)
class SystemResult:
    system: str
    retrieval: str
    answering: str
    build_s: float | None  # model load + embedding + indexing the corpus
    passage_recall_at_5: float | None  # a top-5 chunk overlaps the gold paragraph
    answer_recall_at_5: float | None  # a top-5 chunk contains a gold answer
    passage_mrr_at_5: float | None
    search_latency: Latency | None
    answer_at_1: float | None  # the returned sentence contains a gold answer
    abstained: float | None  # share of questions without an answer
    answer_median_chars: float | None  # a longer answer contains more by chance
    answer_latency: Latency | None
    error: str | None = None


@dataclass(frozen=True)
class EncoderCheck:
    """Question embedding p50 with the fresh instance a system answers with and, for a peer, with
    the instance that embedded the corpus."""

    system: str
    runtime: str
    questions: int
    fresh_instance_p50_ms: float
    build_instance_p50_ms: float | None


@dataclass
class PeersReport:
    corpus: str
    questions: int
    model: str
    machine: dict[str, Any]
    load_average_end: list[float] = field(default_factory=list)
    systems: list[SystemResult] = field(default_factory=list)
    ratios: dict[str, dict[str, float | None]] = field(default_factory=dict)
    encoder_checks: list[EncoderCheck] = field(default_factory=list)


def score_hits(q: Question, hits: Sequence[Hit], doc_text: str | None) -> dict[str, Any]:
    """One question's row, with the fields eval.metrics aggregates."""
    citations = [h.as_citation() for h in hits[:K]]
    span = metrics.locate_passage(doc_text, q.passage) if doc_text else None
    passage = [metrics.passage_overlaps(c, q.docs[0], span, q.passage) for c in citations]
    answers = metrics.citation_hits(citations, q.answers)
    return {"gold_answers": list(q.answers), "first_passage_rank": metrics.first_hit_rank(passage),
            "first_hit_rank": metrics.first_hit_rank(answers)}


# citeqa's answer stage was fitted on the sample's train articles and tuned on its dev ones;
# the peers fitted nothing. Only test-split questions are held out for every system.
SCORED_SPLIT = "test"


def score_replies(questions: Sequence[Question], replies: Sequence[Reply]) -> dict[str, Any]:
    """answer@1 (abstentions wrong), the abstention share and the answers' median length, over
    the test-split questions only (all of them are still asked and timed)."""
    kept = [(q, r) for q, r in zip(questions, replies, strict=True) if q.split == SCORED_SPLIT]
    rows = [{"gold_answers": list(q.answers),
             "answer_correct": metrics.answer_correct(r.text, r.abstained, q.answers)}
            for q, r in kept]
    replies = [r for _, r in kept]
    lengths = [len(r.text) for r in replies if r.text is not None]
    return {"answer_at_1": metrics.answer_at_1(rows),
            "abstained": metrics.mean(r.abstained for r in replies),
            "answer_median_chars": float(np.median(lengths)) if lengths else None}


def evaluate(
    name: str, retrieval: str, answering: str, build_s: float | None,
    questions: Sequence[Question], documents: Mapping[str, str],
    searched: Sequence[list[Hit]], search_ms: Sequence[float],
    replies: Sequence[Reply], answer_ms: Sequence[float],
) -> SystemResult:
    """One system's row from the outputs and timings of its interleaved passes."""
    rows = [score_hits(q, hits, documents.get(q.docs[0]))
            for q, hits in zip(questions, searched, strict=True)]
    answered = score_replies(questions, replies)
    return SystemResult(
        name, retrieval, answering, None if build_s is None else round(build_s, 2),
        metrics.hit_at_k(rows, K, "first_passage_rank"), metrics.hit_at_k(rows, K),
        metrics.mrr(rows, "first_passage_rank"), Latency.of(search_ms),
        answered["answer_at_1"], answered["abstained"], answered["answer_median_chars"],
        Latency.of(answer_ms))


def _difference(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or theirs is None else round(ours - theirs, 4)


def _times(peer: float | None, ours: float | None) -> float | None:
    return None if not peer or not ours else round(peer / ours, 2)


def compare(systems: Sequence[SystemResult], base: str = "citeqa") -> dict[str, dict[str, Any]]:
    """Each peer against citeqa: latency as peer / citeqa (above 1: citeqa is faster), quality as
    citeqa − peer (above 0: citeqa is better; below 0: the peer leads)."""
    ours = next((s for s in systems if s.system == base and s.error is None), None)
    if ours is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for s in systems:
        if s.system == base or s.error is not None:
            continue
        out[s.system] = {
            "search_p50_peer_over_citeqa": _times(_p(s.search_latency, 50),
                                                  _p(ours.search_latency, 50)),
            "search_p95_peer_over_citeqa": _times(_p(s.search_latency, 95),
                                                  _p(ours.search_latency, 95)),
            "passage_recall_at_5_difference": _difference(ours.passage_recall_at_5,
                                                          s.passage_recall_at_5),
            "answer_recall_at_5_difference": _difference(ours.answer_recall_at_5,
                                                         s.answer_recall_at_5),
            "passage_mrr_at_5_difference": _difference(ours.passage_mrr_at_5, s.passage_mrr_at_5),
            "answer_at_1_difference": _difference(ours.answer_at_1, s.answer_at_1),
            "answer_p50_peer_over_citeqa": _times(_p(s.answer_latency, 50),
                                                  _p(ours.answer_latency, 50)),
            "answer_p95_peer_over_citeqa": _times(_p(s.answer_latency, 95),
                                                  _p(ours.answer_latency, 95)),
        }
    return out


def _p(latency: Latency | None, percentile: int) -> float | None:
    if latency is None:
        return None
    return latency.p50_ms if percentile == 50 else latency.p95_ms


def interleaved(
    calls: Mapping[str, Callable[[str], T]], items: Sequence[str]
) -> tuple[dict[str, list[T]], dict[str, list[float]]]:
    """Each call's outputs and milliseconds per item, the calls taking turns item by item in
    rotating order, so a change of load on a shared machine affects every system alike."""
    names = list(calls)
    outputs: dict[str, list[T]] = {name: [] for name in names}
    ms: dict[str, list[float]] = {name: [] for name in names}
    for i, item in enumerate(items):
        for name in names[i % len(names):] + names[: i % len(names)]:
            started = time.perf_counter()
            result = calls[name](item)
            ms[name].append((time.perf_counter() - started) * 1e3)
            outputs[name].append(result)
    return outputs, ms


def single_threaded() -> None:
    """Query timing runs on one thread in every system (torch for the peers' question and
    sentence embeddings, FAISS for the search; citeqa's ONNX sessions are built with one)."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def recorded_sources(index_dir: Path) -> list[Path]:
    """The corpus an index was built from: the sources its current version records."""
    from index.store import load_snapshot

    sources = load_snapshot(index_dir, lease=False).manifest.get("sources") or []
    if not sources:
        raise ValueError(f"{index_dir} records no sources to rebuild from")
    return [Path(s) for s in sources]


def run_peers(
    index_dir: Path, questions: Sequence[Question], *, systems: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> PeersReport:
    """Rebuild citeqa from the index's recorded sources, build every peer over its chunks, time
    and score all of them side by side."""
    from index.embed import DEFAULT_MODEL, resolve_model_path

    from .machine import load_average
    from .scale import machine

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sources = recorded_sources(index_dir)
    model_dir = resolve_model_path(DEFAULT_MODEL)
    started_machine = machine()
    with tempfile.TemporaryDirectory(prefix="citeqa-peers-") as tmp:
        report = _run_in(Path(tmp) / "index", sources, model_dir, questions,
                         systems, say, started_machine)
    report.load_average_end = load_average()
    return report


def _run_in(
    index_dir: Path, sources: Sequence[Path], model_dir: Path, questions: Sequence[Question],
    systems: Sequence[str] | None, say: Callable[[str], None], started_machine: dict[str, Any],
) -> PeersReport:
    from . import peer_systems

    say(f"peers: building citeqa (fresh ingest of {', '.join(map(str, sources))})")
    corpus = peer_systems.build_citeqa_index(sources, index_dir)
    report = PeersReport(
        f"{len(corpus.passages)} chunks ({corpus.sentences} sentences) of "
        f"{len(corpus.documents)} documents ({', '.join(map(str, sources))}, ingested afresh "
        f"as {corpus.version})",
        len(questions), f"all-MiniLM-L6-v2 at {model_dir}", started_machine)
    built: list[peer_systems.BuiltSystem] = []
    for name in systems or list(peer_systems.BUILDERS):
        say(f"peers: building {name}")
        try:
            built += peer_systems.BUILDERS[name](corpus, model_dir)
        except ImportError as exc:
            report.systems.append(SystemResult(
                name, "", "", None, None, None, None, None, None, None, None, None,
                f"not installed (pip install -e '.[bench]'): {exc}"))
    single_threaded()
    texts = [q.question for q in questions]
    report.encoder_checks = _encoder_checks(built, texts[:ENCODER_CHECK_QUESTIONS])
    for system in built:  # warm caches before timing
        for text in texts[:WARMUP]:
            system.search(text)
            system.answer(text)
    say("peers: retrieval, all systems side by side")
    searched, search_ms = interleaved({s.name: s.search for s in built}, texts)
    say("peers: answer stage, all systems side by side")
    replies, answer_ms = interleaved({s.name: s.answer for s in built}, texts)
    for s in built:
        report.systems.append(evaluate(
            s.name, s.retrieval, s.answering, s.build_s, questions, corpus.documents,
            searched[s.name], search_ms[s.name], replies[s.name], answer_ms[s.name]))
    report.ratios = compare(report.systems)
    return report


def _encoder_checks(built: Sequence[Any], texts: Sequence[str]) -> list[EncoderCheck]:
    """Question embedding alone, every system's instances taking turns question by question."""
    probed = [s for s in built if s.probe is not None]
    calls: dict[str, Callable[[str], object]] = {}
    for s in probed:
        calls[f"{s.name}/fresh"] = s.probe.fresh
        if s.probe.build is not None:
            calls[f"{s.name}/build"] = s.probe.build
    if not calls or not texts:
        return []
    for call in calls.values():
        for text in texts[:WARMUP]:
            call(text)
    _, ms = interleaved(calls, texts)
    return [EncoderCheck(
        s.name, s.probe.runtime, len(texts), Latency.of(ms[f"{s.name}/fresh"]).p50_ms,
        Latency.of(ms[f"{s.name}/build"]).p50_ms if f"{s.name}/build" in ms else None)
        for s in probed]


def render(report: PeersReport) -> tuple[str, dict[str, Any]]:
    """The markdown section and the JSON-able dict of a peers report."""
    from .peers_markdown import peers_markdown

    return peers_markdown(report), asdict(report)


def main(argv: Sequence[str] | None = None) -> int:
    from eval.datasets import load_squad

    from .scale import write_results

    parser = argparse.ArgumentParser(prog="python -m eval.bench.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=Path("var/bench/squad-index"),
                        help="the index whose recorded sources are rebuilt and compared")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--systems", nargs="+", default=None,
                        help="any of citeqa, langchain, txtai (default: all)")
    parser.add_argument("--questions", type=int, default=None,
                        help="the first N SQuAD sample questions (default: all)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    started = time.perf_counter()
    try:
        questions = load_squad()[: args.questions]
        report = run_peers(args.index_dir, questions, systems=args.systems)
    except (ValueError, OSError, KeyError) as exc:
        print(f"citeqa bench peers: {exc}", file=sys.stderr)
        return 2
    markdown, data = render(report)
    data["seconds"] = round(time.perf_counter() - started, 1)
    write_results(markdown, data, "peers", args.out)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
