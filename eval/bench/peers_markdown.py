"""The peers section of the benchmark report, in markdown: what was compared and how, then one
table per stage and one of citeqa against each peer."""

from __future__ import annotations

from typing import Any

from eval.markdown_table import markdown_table

from .measure import Latency
from .peers import K, PeersReport

DASH = "—"


def peers_markdown(report: PeersReport) -> str:
    m = report.machine
    ok = [s for s in report.systems if s.error is None]
    lines = [
        "## Peers", "",
        f"Same run, same machine ({m.get('cpus')} CPUs, {m.get('cpu')}; load average at start "
        f"{m.get('load_average_at_start')}, at end {report.load_average_end}): corpus "
        f"{report.corpus}; {report.questions} SQuAD sample questions; model {report.model}.", "",
        "**Footing.** Every build is timed from loading the model to a queryable index in this "
        "run: citeqa's by a fresh `citeqa ingest` of the corpus into a temporary folder (it also "
        "segments the documents and embeds every sentence besides every chunk), each peer's by "
        "embedding and indexing that index's chunks. Every system embeds questions with a fresh "
        "instance of the model, not the instance that embedded the corpus (the encoder check "
        "below shows what that is worth). Latency: one question at a time, warm, the models "
        "(torch for the peers; ONNX Runtime fp32 for citeqa, its default backend: same weights "
        "and vectors) and FAISS on one thread each, the systems taking turns question by "
        "question (rotating order); the timed calls are the scored calls.", "",
        f"### Retrieval (top {K} passages)", "",
        *markdown_table(
            ("system", "build s", f"passage recall@{K}", f"answer recall@{K}",
             f"passage MRR@{K}", "p50 ms", "p95 ms"),
            [(s.system, _num(s.build_s), _fmt(s.passage_recall_at_5),
              _fmt(s.answer_recall_at_5), _fmt(s.passage_mrr_at_5), *_ms(s.search_latency))
             for s in ok]),
        "",
        f"Passage recall@{K}: a top-{K} chunk overlaps the gold paragraph "
        f"(eval.metrics.passage_overlaps); answer recall@{K}: a top-{K} chunk contains a gold "
        f"answer (eval.metrics.citation_hits); MRR@{K}: of the first overlapping chunk.", "",
        "### Answer stage (one sentence per question)", "",
        *markdown_table(
            ("system", "answer@1", "abstained", "median answer chars", "p50 ms", "p95 ms"),
            [(s.system, _fmt(s.answer_at_1), _fmt(s.abstained), _num(s.answer_median_chars),
              *_ms(s.answer_latency)) for s in ok]),
        "",
        "answer@1: the returned sentence contains a gold answer (eval.metrics.answer_correct: "
        "SQuAD normalisation, whole words); an abstention counts as wrong. A longer answer "
        "contains more by chance, hence its median length. Latency includes retrieval. Every "
        "question is asked and timed, but answer@1, abstentions and lengths count only the "
        "sample's test-split questions: citeqa's answer stage was fitted on the train-split "
        "articles and tuned on the dev ones, the peers on nothing.", "",
    ]
    if report.ratios:
        lines += [
            "### citeqa against each peer", "",
            "× is peer / citeqa (above 1: citeqa is faster); Δ is citeqa − peer (below 0: the "
            "peer leads).", "",
            *markdown_table(
                ("peer", "retrieval p50 ×", "retrieval p95 ×", f"passage recall@{K} Δ",
                 f"answer recall@{K} Δ", f"passage MRR@{K} Δ", "answer@1 Δ", "answer p50 ×",
                 "answer p95 ×"),
                [(peer, _num(r["search_p50_peer_over_citeqa"]),
                  _num(r["search_p95_peer_over_citeqa"]),
                  _signed(r["passage_recall_at_5_difference"]),
                  _signed(r["answer_recall_at_5_difference"]),
                  _signed(r["passage_mrr_at_5_difference"]), _signed(r["answer_at_1_difference"]),
                  _num(r["answer_p50_peer_over_citeqa"]), _num(r["answer_p95_peer_over_citeqa"]))
                 for peer, r in report.ratios.items()]),
            "",
        ]
    lines += ["### What each system does", ""]
    lines += [f"- **{s.system}**: retrieval: {s.retrieval}; answer: {s.answering}." for s in ok]
    lines += [f"- **{s.system}**: {s.error}" for s in report.systems if s.error is not None]
    if report.encoder_checks:
        checks = report.encoder_checks
        lines += [
            "", "### Encoder check", "",
            f"Question embedding alone, one question per call on one thread, p50 over "
            f"{checks[0].questions} questions, every instance taking turns question by question: "
            "the fresh instance each system answers with and, for a peer, the instance that "
            "embedded the corpus. It is part of each retrieval latency above.", "",
            *markdown_table(
                ("system", "runtime", "fresh instance p50 ms", "build instance p50 ms"),
                [(c.system, c.runtime, _num(c.fresh_instance_p50_ms),
                  _num(c.build_instance_p50_ms)) for c in checks]),
        ]
    lines.append("")
    return "\n".join(lines)


def _ms(latency: Latency | None) -> tuple[Any, Any]:
    return (latency.p50_ms, latency.p95_ms) if latency else (DASH, DASH)


def _fmt(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return DASH if value is None else f"{value:+.3f}"


def _num(value: float | None) -> str:
    return DASH if value is None else f"{value:g}"
