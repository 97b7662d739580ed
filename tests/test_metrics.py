"""Every metric of eval/metrics.py on small hand-made inputs, edge cases included."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval import metrics as m
from eval import spans

DOC = "Alpha beta. The MoU was signed on 19 February 2026. Gamma delta."


def cite(doc_id: str = "d1", start: int = 12, end: int = 51, p_start: int = 0,
         p_end: int = len(DOC), text: str = DOC) -> dict:
    return {"doc_id": doc_id, "quote": text[start:end], "start": start, "end": end,
            "passage": text[p_start:p_end], "passage_start": p_start, "passage_end": p_end}


def row(**kw) -> dict:
    """A scored row with neutral defaults (an answerable question answered correctly)."""
    base = {
        "id": "q", "kind": "factoid", "mode": "hybrid", "question": "?",
        "gold_answers": ["x"], "gold_docs": ["d1"], "answer": "x", "abstained": False,
        "confidence": 0.9, "correct": True, "answer_correct": True, "span_exact": True,
        "first_hit_rank": 1, "ranked_docs": ["d1"], "citations_checked": 1,
        "citations_invalid": 0, "grounding_errors": [], "calibration_outcome": True,
        "latency_ms": 10.0, "engine_ms": 8.0, "error": None,
    }
    return base | kw


# ---- answers --------------------------------------------------------------------------------


def test_answer_correct_is_normalised_whole_word_containment():
    said = "It was signed by THE Mayor, Steve Rotheram."
    assert m.answer_correct(said, False, ["steve rotheram"])
    assert m.answer_correct("Costs £15m in total", False, ["15m"])
    assert not m.answer_correct("Costs £150m", False, ["15m"])  # whole words only
    assert not m.answer_correct("x", False, [])  # unanswerable: nothing to contain


def test_abstention_scores_zero_on_answerable_questions():
    assert not m.answer_correct(None, True, ["x"])
    assert not m.answer_correct("x", True, ["x"])  # even with text, an abstention is not an answer
    assert not m.answer_correct(None, False, ["x"])


def test_question_correct_rewards_abstaining_on_unanswerable_only():
    assert m.question_correct(None, True, [])
    assert not m.question_correct("Some sentence.", False, [])
    assert m.question_correct("x marks", False, ["x"])
    assert not m.question_correct(None, True, ["x"])


def test_span_exact():
    answer = "Signed on 19 February 2026, at Oxford."
    at = answer.index("19")
    hl = {"start": at, "end": at + len("19 February 2026")}
    assert m.span_exact(answer, hl, False, ["19 February 2026"])
    assert m.span_exact(answer, hl, False, ["19 february, 2026"])  # normalised
    assert not m.span_exact(answer, hl, False, ["February 2026"])  # equality, not containment
    assert not m.span_exact(answer, None, False, ["19 February 2026"])
    assert not m.span_exact(answer, hl, True, ["19 February 2026"])
    assert not m.span_exact(answer, {"start": 5, "end": 500}, False, ["x"])
    assert not m.span_exact(answer, {"start": 3, "end": 3}, False, [""])
    assert not m.span_exact(answer, hl, False, [])


def test_answer_grounding_errors():
    c = cite()
    assert m.answer_grounding_errors(c["quote"], {"start": 0, "end": 3}, False, [c]) == []
    assert m.answer_grounding_errors(None, None, True, [c]) == []
    assert m.answer_grounding_errors(None, None, True, []) == []
    assert m.answer_grounding_errors("x", None, True, [c])  # text while abstained
    assert m.answer_grounding_errors(None, None, False, [c])  # no text while answering
    assert m.answer_grounding_errors("other", None, False, [c])  # not citations[0]
    assert m.answer_grounding_errors("x", None, False, [])  # uncited
    assert m.answer_grounding_errors(c["quote"], {"start": 2, "end": 999}, False, [c])


def test_calibration_outcome_uses_the_best_candidate():
    c = cite()
    assert m.calibration_outcome("on 19 February 2026", False, [], ["19 February 2026"])
    # abstained: the first related citation is the candidate it would have answered with
    assert m.calibration_outcome(None, True, [c], ["19 February 2026"])
    assert not m.calibration_outcome(None, True, [], ["19 February 2026"])
    assert not m.calibration_outcome("19 February 2026", False, [c], [])  # unanswerable


# ---- citations ------------------------------------------------------------------------------


def test_citation_hits_quote_or_passage_and_ranks():
    hit_quote = cite()
    hit_passage = cite(start=0, end=11)  # quote "Alpha beta.", passage holds the date
    miss = cite(start=0, end=11, p_start=0, p_end=11)
    assert m.citation_hits([miss, hit_passage, hit_quote], ["19 February 2026"]) == [
        False, True, True]
    assert m.citation_hits([hit_quote], []) == [False]
    assert m.citation_hits([], ["x"]) == []
    assert m.first_hit_rank([False, True, True]) == 2
    assert m.first_hit_rank([]) is None
    assert m.hit_at(2, 2) and not m.hit_at(3, 2) and not m.hit_at(None, 10)
    assert m.reciprocal_rank(4) == 0.25 and m.reciprocal_rank(None) == 0.0


def test_citation_errors_checks_quote_and_passage_offsets():
    assert m.citation_errors(cite(), DOC) == []
    bad_quote = cite() | {"quote": "The MoU was signed"}
    assert any("quote" in e for e in m.citation_errors(bad_quote, DOC))
    bad_passage = cite() | {"passage_end": 5}
    assert any("passage" in e for e in m.citation_errors(bad_passage, DOC))
    outside = cite() | {"end": len(DOC) + 5}
    assert any("outside" in e for e in m.citation_errors(outside, DOC))
    reversed_ = cite() | {"start": 20, "end": 10}
    assert m.citation_errors(reversed_, DOC)
    assert m.citation_errors(cite(), None) == ["document 'd1' not found"]
    empty = cite(start=5, end=5)
    assert m.citation_errors(empty, DOC) == []  # an empty quote at valid offsets is consistent


@given(st.text(min_size=1, max_size=60), st.data())
def test_citation_errors_accepts_every_exact_slice(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert m.citation_errors(cite(start=start, end=end, p_end=len(text), text=text), text) == []


def test_locate_and_overlap_passage():
    doc = "First paragraph here.\n\nSecond paragraph, the gold one.\n\nThird."
    gold = "Second paragraph, the gold one."
    span = m.locate_passage(doc, gold)
    assert span == (doc.index(gold), doc.index(gold) + len(gold))
    assert m.locate_passage(doc, "  " + gold + "\n") == span
    assert m.locate_passage(doc, "absent") is None and m.locate_passage(doc, "") is None
    inside = {"doc_id": "d", "passage_start": span[0] + 3, "passage_end": span[0] + 8}
    touching = {"doc_id": "d", "passage_start": 0, "passage_end": span[0]}  # ends where gold starts
    straddling = {"doc_id": "d", "passage_start": 0, "passage_end": span[0] + 1}
    assert m.passage_overlaps(inside, "d", span, gold)
    assert not m.passage_overlaps(touching, "d", span, gold)
    assert m.passage_overlaps(straddling, "d", span, gold)
    assert not m.passage_overlaps(inside | {"doc_id": "other"}, "d", span, gold)
    # not located: containment either way
    assert m.passage_overlaps({"doc_id": "d", "passage": doc}, "d", None, gold)
    assert m.passage_overlaps({"doc_id": "d", "passage": "the gold"}, "d", None, gold)
    assert not m.passage_overlaps({"doc_id": "d", "passage": "Third."}, "d", None, gold)
    assert not m.passage_overlaps({"doc_id": "d", "passage": "x"}, "d", None, "  ")


# ---- documents ------------------------------------------------------------------------------


def test_doc_recall_over_distinct_docs():
    ranked = ["a", "a", "b", "c", "b", "d"]
    assert m.distinct_docs(ranked) == ["a", "b", "c", "d"]
    assert m.doc_recall_at(ranked, ["b", "d"], 2) == 0.5  # distinct top 2 = a, b
    assert m.doc_recall_at(ranked, ["b", "d"], 4) == 1.0
    assert m.doc_recall_at([], ["b"], 5) == 0.0
    assert m.doc_recall_at(ranked, [], 5) is None


def test_ndcg_binary_relevance():
    assert m.ndcg_at(["a", "b"], ["a"], 10) == 1.0
    assert m.ndcg_at(["x", "a"], ["a"], 10) == pytest.approx(1 / math.log2(3))
    # duplicates do not take ranks: a doc ranks by its best chunk
    assert m.ndcg_at(["x", "x", "a"], ["a"], 10) == pytest.approx(1 / math.log2(3))
    two = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert m.ndcg_at(["a", "x", "b"], ["a", "b"], 10) == pytest.approx(two)
    assert m.ndcg_at(["x", "y", "z", "a"], ["a"], 3) == 0.0  # beyond the cut-off
    assert m.ndcg_at([], ["a"], 10) == 0.0
    assert m.ndcg_at(["a"], [], 10) is None
    # the ideal is capped at k relevant documents
    many = [str(i) for i in range(20)]
    assert m.ndcg_at(many, many, 10) == 1.0


# ---- aggregates -----------------------------------------------------------------------------


def test_mean_ignores_none_and_is_none_when_empty():
    assert m.mean([1, None, 0]) == 0.5
    assert m.mean([None]) is None and m.mean([]) is None


def test_answer_metrics_use_answerable_rows_only():
    rows = [
        row(),
        row(answer_correct=False, correct=False, span_exact=False, first_hit_rank=3),
        row(gold_answers=[], gold_docs=[], answer=None, abstained=True, correct=True,
            answer_correct=False, span_exact=False, first_hit_rank=None),
    ]
    assert m.answer_at_1(rows) == 0.5
    assert m.accuracy(rows) == pytest.approx(2 / 3)
    assert m.exact_span_rate(rows) == 0.5
    assert m.hit_at_k(rows, 1) == 0.5 and m.hit_at_k(rows, 3) == 1.0
    assert m.mrr(rows) == pytest.approx((1 + 1 / 3) / 2)
    only_unanswerable = rows[2:]
    assert m.answer_at_1(only_unanswerable) is None
    assert m.hit_at_k(only_unanswerable, 5) is None and m.mrr(only_unanswerable) is None


def test_doc_level_aggregates():
    rows = [row(ranked_docs=["d2", "d1"]), row(ranked_docs=[]), row(gold_docs=[])]
    assert m.mean_doc_recall(rows, 1) == 0.0
    assert m.mean_doc_recall(rows, 2) == 0.5
    assert m.doc_accuracy_at_1(rows) == 0.0
    assert m.doc_accuracy_at_1([row()]) == 1.0
    assert m.mean_ndcg([row(gold_docs=[])]) is None


def test_citation_validity_counts_citations_not_rows():
    rows = [row(citations_checked=3, citations_invalid=1), row(citations_checked=1)]
    assert m.citation_validity(rows) == 0.75
    assert m.citation_validity([row(citations_checked=0)]) is None
    assert m.answer_grounding([row(), row(grounding_errors=["x"])]) == 0.5


def test_abstention_precision_recall_false_rate():
    rows = [
        row(gold_answers=[], abstained=True),  # right abstention
        row(gold_answers=[], abstained=False),  # answered the unanswerable
        row(abstained=True),  # false abstention
        row(), row(),
    ]
    a = m.abstention(rows)
    assert a["precision"] == 0.5
    assert a["recall"] == 0.5
    assert a["false_abstention_rate"] == pytest.approx(1 / 3)
    assert a["rate"] == 0.4
    none = m.abstention([row()])
    assert none["precision"] is None and none["recall"] is None
    assert none["false_abstention_rate"] == 0.0


def test_reliability_bins_and_ece():
    conf = [0.05, 0.15, 0.95, 1.0, 0.95]
    ok = [False, True, True, True, False]
    bins = m.reliability(conf, ok)
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 5
    assert bins[9]["count"] == 3  # 1.0 belongs to the last bin
    assert bins[9]["accuracy"] == pytest.approx(2 / 3)
    assert bins[5]["count"] == 0 and bins[5]["accuracy"] is None
    expected = (1 / 5) * 0.05 + (1 / 5) * 0.85 + (3 / 5) * abs(2 / 3 - (0.95 + 1 + 0.95) / 3)
    assert m.expected_calibration_error(conf, ok) == pytest.approx(expected)
    assert m.expected_calibration_error([], []) is None
    assert m.expected_calibration_error([1.0, 0.0], [True, False]) == 0.0
    assert m.reliability([1.7, -0.2], [True, False])[9]["count"] == 1  # clipped into [0, 1]


def test_percentiles_and_latency():
    assert m.percentile([], 50) is None
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    lat = m.latency([row(latency_ms=10.0), row(latency_ms=30.0), row(latency_ms=None),
                     row(latency_ms=99.0, error="boom")])
    assert lat == {"p50": 20.0, "p95": 29.0, "max": 30.0}


def test_summaries_overall_and_per_kind():
    rows = [row(), row(kind="date", answer_correct=False, correct=False, first_hit_rank=None,
                       calibration_outcome=False, confidence=0.2),
            row(kind="unanswerable", gold_answers=[], gold_docs=[], abstained=True,
                answer=None, calibration_outcome=False, confidence=0.1)]
    s = m.summarize_qa(rows)
    assert s["questions"] == 3 and s["answerable"] == 2 and s["errors"] == 0
    assert s["answer_at_1"] == 0.5 and s["hit_at_5"] == 0.5
    assert s["abstention_recall"] == 1.0 and s["false_abstention_rate"] == 0.0
    assert s["latency_ms"]["p50"] == 10.0
    kinds = m.by_kind(rows)
    assert list(kinds) == ["date", "factoid", "unanswerable"]
    assert kinds["unanswerable"]["answer_at_1"] is None
    assert kinds["unanswerable"]["abstention_recall"] == 1.0


def test_retrieval_summary():
    rows = [row(ranked_docs=["x", "d1"]), row(ranked_docs=["y"]), row(gold_docs=[])]
    s = m.summarize_retrieval(rows)
    assert s["recall_at_100"] == 0.5
    assert s["ndcg_at_10"] == pytest.approx(1 / math.log2(3) / 2)
    assert s["mrr"] == 0.25


# ---- span EM / F1 of the highlight (SQuAD v1.1 definitions) -----------------------------------


def test_span_prediction_is_the_highlight_else_the_whole_answer():
    answer = "Signed on 19 February 2026, at Oxford."
    assert spans.span_prediction(answer, {"start": 10, "end": 26}, False) == "19 February 2026"
    assert spans.span_prediction(answer, None, False) == answer
    assert spans.span_prediction(answer, {"start": 5, "end": 99}, False) == answer  # out of bounds
    assert spans.span_prediction(answer, {"start": 3, "end": 3}, False) == answer  # empty
    assert spans.span_prediction(answer, {"start": 10, "end": 26}, True) is None
    assert spans.span_prediction(None, None, False) is None


def test_exact_match_normalises_and_takes_the_best_gold():
    assert spans.exact_match("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert spans.exact_match("Eiffel Tower in Paris", ["eiffel tower"]) == 0.0
    assert spans.exact_match("1998", ["4 May 1998", "1998"]) == 1.0
    assert spans.exact_match(None, ["x"]) == 0.0 and spans.exact_match("x", []) == 0.0


def test_token_f1_matches_the_squad_script():
    # pred tokens {cat, sat}, gold {cat, sat, on, mat}: P = 1, R = 1/2, F1 = 2/3
    assert spans.token_f1("the cat sat", ["cat sat on the mat"]) == pytest.approx(2 / 3)
    # max over gold answers; repeated tokens count as often as both sides have them
    assert spans.token_f1("x x y", ["zzz", "x y"]) == pytest.approx(0.8)  # P 2/3, R 1
    assert spans.token_f1("dog", ["cat"]) == 0.0
    assert spans.token_f1(None, ["cat"]) == 0.0 and spans.token_f1("cat", []) == 0.0
    assert spans.token_f1("Cat.", ["the cat"]) == 1.0


def test_span_em_f1_over_answerable_rows_abstentions_zero():
    answer = "It opened on 4 May 1998 after six years."
    rows = [
        row(gold_answers=["4 May 1998"], answer=answer, highlight={"start": 13, "end": 23}),
        row(gold_answers=["4 May 1998"], answer=answer, highlight=None),  # whole quote predicted
        row(gold_answers=["4 May 1998"], answer=None, abstained=True),  # counts 0
        row(gold_answers=[], answer=None, abstained=True),  # unanswerable: not counted
    ]
    whole = spans.token_f1(answer, ["4 May 1998"])
    assert 0 < whole < 1
    assert m.span_em(rows) == pytest.approx(1 / 3)
    assert m.span_f1(rows) == pytest.approx((1 + whole + 0) / 3)
    assert m.span_em(rows[3:]) is None and m.span_f1(rows[3:]) is None


# ---- quote length, conflicts ------------------------------------------------------------------


def test_median_quote_chars_over_answered_questions_only():
    rows = [row(answer="abc"), row(answer="abcdefg"), row(answer="abcde"),
            row(answer=None, abstained=True), row(answer="x" * 99, error="boom")]
    assert m.median_quote_chars(rows) == 5.0
    assert m.median_quote_chars(rows[:2]) == 5.0  # even count: mean of the middle two
    assert m.median_quote_chars(rows[3:]) is None


def test_conflict_false_alarms_and_recall():
    flag = [{"doc_id": "d2", "quote": "44,000 jobs"}]
    rows = [
        row(conflicts=flag),  # false alarm
        row(conflicts=[]), row(), row(kind="numeric", conflicts=[]),
        row(answer=None, abstained=True, conflicts=flag),  # not answered: not counted
        row(kind="conflict", conflicts=flag),  # found
        row(kind="conflict", conflicts=[]),  # missed
        row(kind="conflict", answer=None, abstained=True, conflicts=[]),  # missed
    ]
    assert m.conflict_false_alarm_rate(rows) == pytest.approx(1 / 4)
    assert m.conflict_recall(rows) == pytest.approx(1 / 3)
    assert m.conflict_recall(rows[:4]) is None
    assert m.conflict_false_alarm_rate(rows[5:]) is None


# ---- abstention as a SQuAD 2.0 set measures it -------------------------------------------------


def test_squad2_style_abstention_metrics():
    rows = [
        row(gold_answers=[], answer=None, abstained=True, correct=True, answer_correct=False),
        row(gold_answers=[], answer="Some sentence.", correct=False, answer_correct=False),
        row(answer=None, abstained=True, correct=False, answer_correct=False),  # false abstention
        row(answer="wrong", correct=False, answer_correct=False),
        row(), row(),
    ]
    s = m.summarize_qa(rows)
    assert s["unanswerable"] == 2 and s["answerable"] == 4
    assert s["abstention_recall"] == 0.5
    assert s["false_abstention_rate"] == 0.25
    assert s["answer_at_1"] == 0.5
    assert s["accuracy"] == pytest.approx(3 / 6)  # overall correctness
    assert m.summarize_qa(rows[2:])["abstention_recall"] is None  # no unanswerable question


# ---- splits ---------------------------------------------------------------------------------


def test_splits_lead_with_test_and_never_include_train():
    rows = [row(id="a", split="train"), row(id="b", split="dev", answer_correct=False),
            row(id="c", split="test"), row(id="d", split="test", answer_correct=False),
            row(id="e", split="test")]
    assert [r["id"] for r in m.reported(rows)] == ["b", "c", "d", "e"]
    assert m.headline_split(rows) == "test"
    assert m.headline_split(rows[:2]) == "dev"
    assert m.headline_split(rows[:1]) is None
    per = m.by_split(rows)
    assert list(per) == ["test", "dev", "all"]
    assert per["test"]["questions"] == 3 and per["test"]["answer_at_1"] == pytest.approx(2 / 3)
    assert per["dev"]["answer_at_1"] == 0.0
    assert per["all"]["questions"] == 4  # dev + test, the train row left out
    assert list(m.by_split(rows[2:])) == ["test"]


def test_summary_has_every_new_metric():
    s = m.summarize_qa([row(split="test", highlight=None, conflicts=[])])
    for key in ("span_em", "span_f1", "median_quote_chars", "conflict_false_alarm_rate",
                "conflict_recall", "unanswerable"):
        assert key in s, key
    assert s["span_em"] == 1.0 and s["median_quote_chars"] == 1.0
    assert s["conflict_recall"] is None
