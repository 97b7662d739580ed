"""The peers benchmark's own logic on small in-memory data: LangChain BM25's fair tokenizer, how a
peer picks its answer sentence, the interleaved passes, the scoring and the citeqa-vs-peer table
(MRR and answer@1 included); plus a smoke run of the whole section on the seeds (skipped unless
the `bench` extra is installed)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eval.bench.measure import Latency
from eval.bench.peer_systems import BuiltSystem, EncoderProbe, sentence_answerer
from eval.bench.peer_text import best_sentence, passage_sentences, plain_words
from eval.bench.peers import (
    Hit,
    PeersReport,
    Reply,
    SystemResult,
    _encoder_checks,
    compare,
    interleaved,
    recorded_sources,
    render,
    score_replies,
)
from eval.datasets import Question

from .conftest import index_of

BENCH_EXTRA = (importlib.util.find_spec("txtai") is not None
               and importlib.util.find_spec("langchain_community") is not None)
VOCABULARY = ("denver", "broncos", "super", "bowl", "won", "city", "rain", "panthers")


def _bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in embedding: word counts over a small vocabulary."""
    return np.array([[plain_words(t).count(w) for w in VOCABULARY] for t in texts], dtype=float)


def _question(answers: tuple[str, ...] = ("Denver Broncos",)) -> Question:
    return Question("q", "Who won Super Bowl 50?", answers, ("doc",), "squad", "test")


def test_plain_words_lower_cases_and_drops_punctuation() -> None:
    assert plain_words("Which city? Denver!") == ["which", "city", "denver"]
    assert plain_words("Denver?") == plain_words("denver") == ["denver"]
    assert ["Denver?"] != ["denver"]  # what LangChain's default keeps apart


@pytest.mark.skipif(not BENCH_EXTRA, reason="needs the optional extra: pip install -e '.[bench]'")
def test_bm25_with_plain_words_matches_across_case_and_punctuation() -> None:
    from langchain_community.retrievers import BM25Retriever

    texts = ["The city of denver hosted it.", "Rain fell on the city.", "Panthers lost."]
    fair = BM25Retriever.from_texts(texts, k=1, preprocess_func=plain_words)
    assert fair.invoke("Denver?")[0].page_content == texts[0]


def test_passage_sentences_leave_headings_out() -> None:
    passage = "Super Bowl 50\n\nThe Denver Broncos won. The game was in the city.\n"
    assert passage_sentences(passage) == ["The Denver Broncos won.", "The game was in the city."]


def test_best_sentence_is_the_closest_by_cosine() -> None:
    sentences = ["Rain fell on the city.", "The Denver Broncos won Super Bowl 50.",
                 "The Panthers lost."]
    assert best_sentence("Who won Super Bowl 50?", sentences, _bag_of_words) == sentences[1]


def test_best_sentence_takes_the_first_of_equals_and_none_of_nothing() -> None:
    assert best_sentence("rain", ["rain city", "city rain"], _bag_of_words) == "rain city"
    assert best_sentence("rain", [], _bag_of_words) is None
    # A zero vector (no known word) scores 0 rather than failing.
    assert best_sentence("rain", ["xyz", "rain"], _bag_of_words) == "rain"


def test_a_peer_answers_from_its_top_passage_or_abstains() -> None:
    top = Hit("doc", 0, 60, "Rain fell on the city. The Denver Broncos won Super Bowl 50.")
    other = Hit("doc", 60, 90, "Super Bowl 50 was won by the Broncos of Denver.")
    answer = sentence_answerer(lambda q: [top, other], _bag_of_words)
    assert answer("Who won Super Bowl 50?") == Reply(
        "The Denver Broncos won Super Bowl 50.", False)
    assert sentence_answerer(lambda q: [], _bag_of_words)("anything") == Reply(None, True)


def test_interleaved_rotates_the_order_and_keeps_every_output() -> None:
    order: list[str] = []

    def call(name: str):
        def run(item: str) -> str:
            order.append(name)
            return f"{name}:{item}"
        return run

    outputs, ms = interleaved({"a": call("a"), "b": call("b")}, ["x", "y"])
    assert order == ["a", "b", "b", "a"]
    assert outputs == {"a": ["a:x", "a:y"], "b": ["b:x", "b:y"]}
    assert all(len(v) == 2 and min(v) >= 0 for v in ms.values())


def test_encoder_checks_time_each_instance_a_system_has() -> None:
    def system(name: str, probe: EncoderProbe | None) -> BuiltSystem:
        return BuiltSystem(name, "", "", 1.0, lambda q: [], lambda q: Reply(None, True), probe)

    seen: list[str] = []
    checks = _encoder_checks([
        system("ours", EncoderProbe("onnx", lambda q: seen.append("ours"))),
        system("peer", EncoderProbe("torch", lambda q: seen.append("fresh"),
                                    lambda q: seen.append("build"))),
        system("unprobed", None),
    ], ["a", "b", "c"])
    assert [(c.system, c.runtime, c.questions) for c in checks] == [
        ("ours", "onnx", 3), ("peer", "torch", 3)]
    assert checks[0].build_instance_p50_ms is None and checks[1].build_instance_p50_ms is not None
    assert seen.count("ours") == seen.count("fresh") == seen.count("build") == 3 + 3  # + warm-up


def test_answers_are_scored_on_held_out_questions_only() -> None:
    fitted = replace(_question(), split="train")
    scored = score_replies([fitted, _question()],
                           [Reply("The Denver Broncos won.", False), Reply("Rain fell.", False)])
    assert scored["answer_at_1"] == 0.0  # the train-split question's right answer is not counted


def test_score_replies_counts_abstentions_as_wrong() -> None:
    scored = score_replies(
        [_question(), _question(), _question()],
        [Reply("The Denver Broncos won.", False), Reply(None, True), Reply("Rain fell.", False)])
    assert scored["answer_at_1"] == pytest.approx(1 / 3)
    assert scored["abstained"] == pytest.approx(1 / 3)
    assert scored["answer_median_chars"] == pytest.approx((23 + 10) / 2)


def _result(name: str, *, mrr: float, answer_at_1: float, p50: float,
            error: str | None = None) -> SystemResult:
    latency = Latency(10, p50, 2 * p50, 3 * p50, p50)
    return SystemResult(name, f"{name} retrieval", f"{name} answering", 12.5, 0.94, 0.95, mrr,
                        latency, answer_at_1, 0.0, 120.0, latency, error)


SYSTEMS = [
    _result("citeqa", mrr=0.835, answer_at_1=0.80, p50=20.0),
    _result("txtai", mrr=0.858, answer_at_1=0.60, p50=50.0),
    _result("broken", mrr=0.0, answer_at_1=0.0, p50=1.0, error="not installed"),
]


def test_compare_puts_mrr_and_answer_at_1_beside_latency() -> None:
    ratios = compare(SYSTEMS)
    assert list(ratios) == ["txtai"]
    txtai = ratios["txtai"]
    assert txtai["passage_mrr_at_5_difference"] == pytest.approx(-0.023)  # the peer leads
    assert txtai["answer_at_1_difference"] == pytest.approx(0.2)
    assert txtai["passage_recall_at_5_difference"] == 0.0
    assert txtai["search_p50_peer_over_citeqa"] == 2.5
    assert txtai["answer_p95_peer_over_citeqa"] == 2.5
    assert compare(SYSTEMS[1:]) == {}


def test_render_shows_every_build_time_and_the_mrr_column() -> None:
    report = PeersReport("2 chunks", 3, "MiniLM", {"cpus": 2, "load_average_at_start": [1.0]},
                         [1.5], SYSTEMS, compare(SYSTEMS))
    markdown, data = render(report)
    assert "(prebuilt)" not in markdown
    assert "| citeqa | 12.5 | 0.940 | 0.950 | 0.835 |" in markdown
    assert "passage MRR@5 Δ" in markdown and "| txtai | 2.5 | 2.5 | +0.000 | +0.000 | -0.023 |" \
        in markdown
    assert "at end [1.5]" in markdown and "- **broken**: not installed" in markdown
    assert data["ratios"]["txtai"]["answer_at_1_difference"] == pytest.approx(0.2)
    no_peers = replace(report, systems=SYSTEMS[:1], ratios={})
    assert "citeqa against each peer" not in render(no_peers)[0]


def test_recorded_sources_name_the_corpus(tmp_path: Path, hashing_encoder) -> None:
    index_dir = index_of(tmp_path, hashing_encoder, {"a.txt": "The Denver Broncos won."})
    assert recorded_sources(index_dir) == [tmp_path / "docs"]


@pytest.mark.skipif(not BENCH_EXTRA, reason="needs the optional extra: pip install -e '.[bench]'")
def test_peers_smoke(seed_index: Path) -> None:
    from eval.bench.peers import run_peers

    questions = [Question("q1", "How many jobs will the partnership create?", ("40,000",),
                          ("none",), "squad", "test", passage="")] * 2
    report = run_peers(seed_index, questions, log=lambda line: None)
    names = [s.system for s in report.systems]
    assert names == ["citeqa", "langchain", "langchain, words", "txtai"]
    assert all(s.error is None and s.search_latency and s.answer_latency and s.build_s
               for s in report.systems)
    assert set(report.ratios) == set(names[1:])
    assert [c.system for c in report.encoder_checks] == ["citeqa", "langchain", "txtai"]
    assert [c.build_instance_p50_ms is None for c in report.encoder_checks] == [True, False, False]
    assert "## Peers" in render(report)[0]
