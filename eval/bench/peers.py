"""`citeqa bench` peers section: citeqa's retrieval against a LangChain pipeline and txtai on the
same corpus, questions, model and machine, in one run.

- corpus: the chunks of the citeqa index (read-only, no lease written), so a "passage" is the
  same unit for every system; each peer embeds and indexes them itself (its build time);
- questions: the SQuAD sample (eval.datasets.load_squad);
- model: the bundled all-MiniLM-L6-v2 directory, loaded from disk by every system;
- quality: passage recall@5 by the project's own metrics (eval.metrics.passage_overlaps: a hit
  when a returned chunk overlaps the gold paragraph; and citation_hits: the chunk contains a gold
  answer), aggregated with eval.metrics.hit_at_k / mrr;
- latency: one question at a time, warm, torch and FAISS on one thread, the systems taking
  turns question by question (rotating order) so load changes on a shared machine hit all alike.

LangChain: FAISS vector store + BM25Retriever (rank-bm25) in an EnsembleRetriever (RRF, weights
0.5/0.5, each retriever asked for 5) with HuggingFaceEmbeddings. txtai: Embeddings(path=model,
hybrid=True, content=True). Both come from the optional extra `bench`; without it the peers are
reported as unavailable. Standalone: ``python -m eval.bench.peers`` writes
eval/results/bench/peers.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval import metrics
from eval.datasets import Question

from ..markdown_table import markdown_table
from .measure import Latency, ratio, time_interleaved

K = 5
RESULTS_DIR = Path("eval/results/bench")


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


Search = Callable[[str], list[Hit]]


@dataclass(frozen=True)
class SystemResult:
    system: str
    setup: str
    build_s: float | None  # embedding + indexing the corpus (None: reused the built index)
    passage_recall_at_5: float | None  # the retrieved chunk overlaps the gold paragraph
    answer_recall_at_5: float | None  # the retrieved chunk contains a gold answer
    passage_mrr: float | None
    latency: Latency | None
    error: str | None = None


@dataclass
class PeersReport:
    corpus: str
    questions: int
    model: str
    machine: dict[str, Any]
    systems: list[SystemResult] = field(default_factory=list)
    ratios: dict[str, dict[str, float | None]] = field(default_factory=dict)


def score_hits(q: Question, hits: Sequence[Hit], doc_text: str | None) -> dict[str, Any]:
    """One question's row, with the fields eval.metrics aggregates."""
    citations = [h.as_citation() for h in hits[:K]]
    span = metrics.locate_passage(doc_text, q.passage) if doc_text else None
    passage = [metrics.passage_overlaps(c, q.docs[0], span, q.passage) for c in citations]
    answers = metrics.citation_hits(citations, q.answers)
    return {"gold_answers": list(q.answers), "first_passage_rank": metrics.first_hit_rank(passage),
            "first_hit_rank": metrics.first_hit_rank(answers)}


def evaluate(
    system: str, setup: str, search: Search, questions: Sequence[Question],
    documents: dict[str, str], build_s: float | None, samples_ms: Sequence[float],
) -> SystemResult:
    """Quality from one pass over every question; latency from the interleaved timings."""
    rows = [score_hits(q, search(q.question), documents.get(q.docs[0])) for q in questions]
    return SystemResult(
        system, setup, None if build_s is None else round(build_s, 2),
        metrics.hit_at_k(rows, K, "first_passage_rank"), metrics.hit_at_k(rows, K),
        metrics.mrr(rows, "first_passage_rank"), Latency.of(samples_ms))


def compare(systems: Sequence[SystemResult], base: str = "citeqa") -> dict[str, dict[str, Any]]:
    """Ratios of each peer to citeqa: latency (peer p50 / citeqa p50: > 1 means citeqa is faster)
    and passage recall@5 (citeqa / peer: >= 1 means citeqa retrieves at least as well)."""
    ours = next((s for s in systems if s.system == base and s.latency), None)
    out: dict[str, dict[str, Any]] = {}
    if ours is None or ours.latency is None:
        return out
    for s in systems:
        if s.system == base or s.latency is None:
            continue
        out[s.system] = {
            "p50_latency_peer_over_citeqa": ratio(s.latency.p50_ms, ours.latency.p50_ms),
            "p95_latency_peer_over_citeqa": ratio(s.latency.p95_ms, ours.latency.p95_ms),
            "passage_recall_at_5_citeqa_over_peer": ratio(ours.passage_recall_at_5,
                                                          s.passage_recall_at_5),
            "passage_recall_at_5_difference": round(
                (ours.passage_recall_at_5 or 0.0) - (s.passage_recall_at_5 or 0.0), 4),
        }
    return out


def single_threaded() -> None:
    """Query timing runs on one thread in every system (torch for the question embedding,
    FAISS for the search)."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def run_peers(
    index_dir: Path, questions: Sequence[Question], *, systems: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> PeersReport:
    """Build every system over the index's chunks, time them side by side, score each."""
    from index.embed import DEFAULT_MODEL, resolve_model_path
    from index.store import load_snapshot

    from . import peer_systems
    from .scale import machine

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_dir = resolve_model_path(DEFAULT_MODEL)
    snapshot = load_snapshot(index_dir, lease=False)
    content = snapshot.content
    passages = [Passage(c.doc_id, c.start, c.end, c.text) for c in content.chunks]
    documents = {d.doc_id: d.text for d in content.documents}
    report = PeersReport(
        f"{len(passages)} chunks of {len(documents)} documents from {index_dir} "
        f"({snapshot.version})", len(questions), f"all-MiniLM-L6-v2 at {model_dir}", machine())
    builders = peer_systems.builders(snapshot, model_dir)
    built: dict[str, tuple[str, Search, float | None]] = {}
    for name in systems or list(builders):
        say(f"peers: building {name}")
        try:
            built[name] = builders[name](passages)
        except ImportError as exc:
            report.systems.append(SystemResult(name, "", None, None, None, None, None,
                                               f"not installed (pip install -e '.[bench]'): {exc}"))
    single_threaded()
    texts = [q.question for q in questions]
    searches = {name: search for name, (_, search, _) in built.items()}
    for search in searches.values():  # warm caches before timing
        for text in texts[:5]:
            search(text)
    say("peers: timing all systems side by side")
    samples = time_interleaved(searches, texts)
    for name, (setup, search, build_s) in built.items():
        say(f"peers: scoring {name}")
        report.systems.append(
            evaluate(name, setup, search, questions, documents, build_s, samples[name]))
    report.ratios = compare(report.systems)
    return report


def render(report: PeersReport) -> tuple[str, dict[str, Any]]:
    """The markdown section and the JSON-able dict of a peers report."""
    lines = [
        "## Peers", "",
        f"Same run, same machine ({report.machine.get('cpus')} CPUs, load average at start "
        f"{report.machine.get('load_average_at_start')}): corpus {report.corpus}; "
        f"{report.questions} SQuAD sample questions; model {report.model}. Latency: one question "
        "at a time, warm, the model (torch for the peers, ONNX Runtime fp32 for citeqa: its "
        "default backend, same weights and vectors) and FAISS on one thread, the systems taking "
        "turns question by question (rotating order); question embedding included. Passage "
        "recall@5: a top-5 chunk overlaps the gold paragraph "
        "(eval.metrics.passage_overlaps); answer recall@5: a top-5 chunk contains a gold answer "
        "(eval.metrics.citation_hits).", "",
    ]
    rows: list[tuple[Any, ...]] = []
    for s in report.systems:
        if s.error:
            rows.append((s.system, s.error, "—", "—", "—", "—", "—", "—"))
            continue
        lat = s.latency
        build = s.build_s if s.build_s is not None else "(prebuilt)"
        rows.append((s.system, s.setup, build, _fmt(s.passage_recall_at_5),
                     _fmt(s.answer_recall_at_5), _fmt(s.passage_mrr),
                     lat.p50_ms if lat else "—", lat.p95_ms if lat else "—"))
    lines += markdown_table(("system", "setup", "build s", "passage recall@5", "answer recall@5",
                             "passage MRR", "p50 ms", "p95 ms"), rows, cell=str)
    if report.ratios:
        lines += ["", "Ratios (peer p50 / citeqa p50: above 1 means citeqa is faster; recall "
                  "difference = citeqa − peer):", ""]
        for peer, r in report.ratios.items():
            lines.append(f"- {peer}: p50 ×{r['p50_latency_peer_over_citeqa']}, p95 "
                         f"×{r['p95_latency_peer_over_citeqa']}, passage recall@5 "
                         f"{r['passage_recall_at_5_difference']:+.3f}")
    lines.append("")
    return "\n".join(lines), asdict(report)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    from eval.datasets import load_squad

    from .scale import write_results

    parser = argparse.ArgumentParser(prog="python -m eval.bench.peers", description=__doc__)
    parser.add_argument("--index-dir", type=Path, default=Path("var/bench/squad-index"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--systems", nargs="+", default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    started = time.perf_counter()
    try:
        report = run_peers(args.index_dir, load_squad(), systems=args.systems)
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
