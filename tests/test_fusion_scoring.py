"""Unit tests of fusion, answer types, features and composition on small fixtures (fake encoder)."""

from __future__ import annotations

import numpy as np
import pytest

from retriever.engine import Engine, QuestionError, validate_question
from retriever.features import FEATURES
from retriever.fusion import RankedList, best_per_group, fuse, top_k
from retriever.language.en import matching_mentions, quantities, question_type
from retriever.weights import ScoringModel

from .conftest import index_of
from .fake_reader import WordOverlapReader


def test_rrf_sums_weighted_reciprocal_ranks_and_breaks_ties_by_id():
    a = RankedList(np.array([3, 1, 2]), np.array([0.9, 0.8, 0.7], dtype=np.float32))
    b = RankedList(np.array([1, 3]), np.array([5.0, 4.0], dtype=np.float32))
    hits = fuse({"dense": a, "bm25": b}, {"dense": 1.0, "bm25": 1.0}, rrf_k=60)
    scores = {h.row: h.fused_score for h in hits}
    assert scores[3] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[1] == pytest.approx(1 / 62 + 1 / 61)
    assert [h.row for h in hits] == [1, 3, 2]  # 1 and 3 tie: lower id first
    assert hits[0].ranks == {"dense": 2, "bm25": 1} and hits[0].scores["bm25"] == 5.0
    assert [h.fused_rank for h in hits] == [1, 2, 3]


def test_rrf_weight_zero_removes_a_retriever():
    a = RankedList(np.array([0, 1]), np.array([1.0, 0.5], dtype=np.float32))
    b = RankedList(np.array([1, 0]), np.array([1.0, 0.5], dtype=np.float32))
    hits = fuse({"dense": a, "bm25": b}, {"dense": 1.0, "bm25": 0.0}, rrf_k=60)
    assert [h.row for h in hits] == [0, 1]


def test_top_k_is_deterministic_with_ties():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=np.float32)
    ranked = top_k(scores, 3)
    assert ranked.ids.tolist() == [1, 2, 4]
    assert top_k(scores, 10).ids.tolist() == [1, 2, 4, 3, 0]
    assert top_k(np.zeros(0, dtype=np.float32), 3).ids.tolist() == []


def test_best_per_group_keeps_first_occurrence():
    ranked = RankedList(np.array([5, 4, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32))
    groups = np.array([0, 0, 1, 1, 2, 2])
    collapsed = best_per_group(ranked, groups)
    assert collapsed.ids.tolist() == [2, 0]
    assert collapsed.scores.tolist() == pytest.approx([0.9, 0.7])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was the MoU signed?", "date"),
        ("How much is the pipeline worth?", "amount"),
        ("How many jobs could be created?", "count"),
        ("Who chairs the Innovation Board?", "person"),
        ("What percentage of GDP goes to R&D?", "percent"),
        ("In what year was the board established?", "year"),
        ("Where were the plans unveiled?", "place"),
        ("Which universities signed the agreement?", "org"),
        ("What are the areas of complementary strength?", "list"),
        ("Why does the partnership matter?", "other"),
    ],
)
def test_question_types(question, expected):
    assert question_type(question) == expected


def test_matching_mentions_skip_what_the_question_states():
    text = (
        "Signed on February 19, 2026 by Professor Tim Jones, it could create 40,000 jobs by 2030."
    )
    assert [m.text for m in matching_mentions("date", text, "When was it signed?")][0] == (
        "February 19, 2026"
    )
    assert [m.text for m in matching_mentions("person", text, "Who signed?")] == [
        "Professor Tim Jones"
    ]
    assert [m.text for m in matching_mentions("date", text, "What happens by 2030?")] == [
        "February 19, 2026"
    ]


def test_quantities_normalise_scale_and_unit():
    found = quantities("an extra 44,000 jobs and £41.7bn, versus £42 billion and 40,000 new jobs")
    assert [(q.value, q.unit) for q in found] == [
        (44000.0, "job"),
        (41.7e9, "£"),
        (42e9, "£"),
        (40000.0, "job"),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 1001, "longer than 1000"),
        ("hello\x00world", "control characters"),
        ("bell\x07", "control characters"),
        (None, "text"),
    ],
)
def test_bad_questions_are_refused_without_echo(bad, message):
    with pytest.raises(QuestionError, match=message) as info:
        validate_question(bad)
    if isinstance(bad, str) and bad.strip():
        assert bad not in str(info.value)


def test_scoring_model_is_linear_in_features():
    model = ScoringModel.load()
    x = np.eye(len(FEATURES), dtype=np.float32)
    np.testing.assert_allclose(model.score(x), model.vector() + model.intercept, rtol=1e-6)


@pytest.fixture()
def small_engine(tmp_path, hashing_encoder):
    files = {
        "a.txt": "The harbour project was approved on March 3, 2021.\n"
        "It will cost £12m and employ 300 people.\n"
        "The plan covers:\n- new quays\n- a ferry terminal\n- flood defences\n",
        "b.txt": "Officials said the harbour project would employ 320 people.\n"
        "The mayor, Jane Doe, opened the consultation.\n",
        "c.txt": "The ferry crossing reopened last spring. It now runs every hour from the pier.\n"
        "\n"
        "Tickets are sold at the quay.\n",
    }
    index_dir = index_of(tmp_path, hashing_encoder, files)
    return Engine.open(
        index_dir, hashing_encoder, ScoringModel.load(), reader=WordOverlapReader(index_dir)
    )


def test_citations_are_exact_and_output_deterministic(small_engine):
    for question in [
        "When was the harbour project approved?",
        "How many people will it employ?",
        "What does the plan cover?",
        "Who opened the consultation?",
    ]:
        first = small_engine.ask(question)
        again = small_engine.ask(question)
        assert first.model_dump(exclude={"timings_ms"}) == again.model_dump(exclude={"timings_ms"})
        for c in [*first.citations, *first.conflicts]:
            text = small_engine.document(c.doc_id).text
            assert text[c.start : c.end] == c.quote
            assert text[c.passage_start : c.passage_end] == c.passage
        assert (first.answer is None) == first.abstained
        if first.answer is not None:
            assert first.citations[0].quote == first.answer
        if first.highlight is not None:
            assert 0 <= first.highlight.start < first.highlight.end <= len(first.answer)


def test_lead_in_is_merged_with_its_list_items(small_engine):
    from retriever.compose import answer_span

    corpus = small_engine.corpus
    row = next(i for i, s in enumerate(corpus.snapshot.content.sentences) if s.role == "lead_in")
    span = answer_span(corpus, row)
    assert span.text == "The plan covers:\n- new quays\n- a ferry terminal\n- flood defences"


def test_debug_traces_every_retriever(small_engine):
    answer = small_engine.ask("When was the harbour project approved?", debug=True)
    assert answer.debug and answer.debug[0].fused_rank == 1
    assert {answer.debug[0].dense_rank, answer.debug[0].bm25_rank} != {None}


def _row(engine, startswith: str) -> int:
    sentences = engine.corpus.snapshot.content.sentences
    return next(i for i, s in enumerate(sentences) if s.text.startswith(startswith))


@pytest.fixture()
def list_engine(tmp_path, hashing_encoder):
    text = (
        "The council will work on several matters, including,\n"
        "- cleaner buses.\n"
        "- safer junctions.\n"
        "Its assets:\n"
        "  • £2m of road repairs\n"
        "  • £1m of live schemes, including:\n"
        "    • a tram study\n"
        "    • a bridge survey\n"
        "  • a depot\n"
    )
    index_dir = index_of(tmp_path, hashing_encoder, {"lists.txt": text})
    return Engine.open(
        index_dir, hashing_encoder, ScoringModel.load(), reader=WordOverlapReader(index_dir)
    )


def test_a_sentence_that_only_ends_like_a_lead_in_is_quoted_alone(list_engine):
    from retriever.compose import answer_span

    row = _row(list_engine, "The council will work")
    span = answer_span(list_engine.corpus, row)
    assert span.text == "The council will work on several matters, including,"


def test_a_list_item_ending_in_a_colon_takes_only_its_sub_items(list_engine):
    from retriever.compose import answer_span

    row = _row(list_engine, "£1m of live schemes")
    span = answer_span(list_engine.corpus, row)
    assert span.text.endswith("• a tram study\n    • a bridge survey")
