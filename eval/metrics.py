"""Evaluation metrics: pure functions, no I/O.

Two layers. Per-question functions take plain values (an answer's text, its citations, the gold
answers) and say whether that one question was answered, cited and ranked correctly; the harness
stores their results in each row of ``rows.jsonl``. Aggregate functions take those rows (dicts) and
return one number each, or ``None`` where the metric is undefined for the rows given (no answerable
question, no unanswerable question, ...): an undefined metric is never silently 0 or 1.

Answer matching is SQuAD's: normalised containment of a gold answer as whole words
(``eval.normalize.contains_answer``). A "citation" is a dict with the Answer schema's citation
fields (``doc_id``, ``quote``, ``start``, ``end``, ``passage``, ``passage_start``, ``passage_end``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from . import spans
from .normalize import contains_answer, normalize_answer

Row = Mapping[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])
CALIBRATION_BINS = 10


# ---- per question: answers -------------------------------------------------------------------


def answer_correct(answer: str | None, abstained: bool, answers: Sequence[str]) -> bool:
    """answer@1 for one answerable question: the answer text contains a gold answer.

    Containment after SQuAD normalisation, whole words. An abstention (or a null answer) scores 0.
    For an unanswerable question (``answers`` empty) there is nothing to contain: always False —
    use ``question_correct`` for a verdict that covers both kinds."""
    return not abstained and contains_answer(answer, tuple(answers))


def question_correct(answer: str | None, abstained: bool, answers: Sequence[str]) -> bool:
    """The verdict a user would give: an answerable question is right when ``answer_correct``;
    an unanswerable one (``answers`` empty) is right exactly when the system abstained."""
    if not answers:
        return abstained
    return answer_correct(answer, abstained, answers)


def span_exact(
    answer: str | None, highlight: Mapping[str, int] | None, abstained: bool,
    answers: Sequence[str],
) -> bool:
    """Exact span hit: the highlighted part of the answer equals a gold answer after SQuAD
    normalisation. False when abstained, when there is no highlight, when the highlight is out of
    the answer's bounds, or when the question is unanswerable."""
    if abstained or not answer or not highlight or not answers:
        return False
    start, end = highlight.get("start", -1), highlight.get("end", -1)
    if not 0 <= start < end <= len(answer):
        return False
    marked = normalize_answer(answer[start:end])
    return bool(marked) and any(marked == normalize_answer(a) for a in answers)


def answer_grounding_errors(
    answer: str | None, highlight: Mapping[str, int] | None, abstained: bool,
    citations: Sequence[Mapping[str, Any]],
) -> list[str]:
    """The Answer contract around the answer text (empty list: all holds).

    ``answer`` is null exactly when ``abstained``; an answer equals ``citations[0].quote`` (the
    first citation is its source); a highlight lies within the answer, start < end."""
    problems = []
    if abstained != (answer is None):
        problems.append("answer is null iff abstained: violated")
    if answer is not None:
        if not citations:
            problems.append("answer has no citation")
        elif citations[0].get("quote") != answer:
            problems.append("answer differs from citations[0].quote")
        if highlight is not None:
            start, end = highlight.get("start", -1), highlight.get("end", -1)
            if not 0 <= start < end <= len(answer):
                problems.append(f"highlight {start}-{end} outside the answer")
    return problems


def calibration_outcome(
    answer: str | None, abstained: bool, citations: Sequence[Mapping[str, Any]],
    answers: Sequence[str],
) -> bool:
    """What ``confidence`` predicts: that the system's best candidate is right. The candidate is
    the answer, or for an abstention the first related citation's quote (the sentence it would
    have answered with). Always False for an unanswerable question: no candidate can be right."""
    if not answers:
        return False
    candidate = answer if not abstained else (citations[0].get("quote") if citations else None)
    return contains_answer(candidate, tuple(answers))


# ---- per question: citations -----------------------------------------------------------------


def citation_hits(citations: Sequence[Mapping[str, Any]], answers: Sequence[str]) -> list[bool]:
    """One flag per citation, in order: its quote or its passage contains a gold answer (SQuAD
    normalisation, whole words). All False for an unanswerable question."""
    return [
        bool(answers)
        and (contains_answer(c.get("quote"), tuple(answers))
             or contains_answer(c.get("passage"), tuple(answers)))
        for c in citations
    ]


def first_hit_rank(hits: Sequence[bool]) -> int | None:
    """The 1-based rank of the first True flag, None when there is none."""
    return next((i for i, hit in enumerate(hits, start=1) if hit), None)


def hit_at(rank: int | None, k: int) -> bool:
    """hit@k for one question: the first hit is at rank k or better (no hit: False)."""
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    """1/rank of the first hit; 0.0 when nothing hit (so MRR is 'MRR at the list's length')."""
    return 1.0 / rank if rank else 0.0


def citation_errors(citation: Mapping[str, Any], document_text: str | None) -> list[str]:
    """What is wrong with one citation against its document's text (empty list: valid).

    Valid means ``text[start:end] == quote`` and ``text[passage_start:passage_end] == passage``,
    offsets being half-open code-point ranges with 0 <= start <= end <= len(text). A document that
    could not be fetched (``None``) makes the citation invalid."""
    if document_text is None:
        return [f"document {citation.get('doc_id')!r} not found"]
    problems = []
    n = len(document_text)
    for field, lo, hi in (("quote", "start", "end"), ("passage", "passage_start", "passage_end")):
        start, end, text = citation.get(lo), citation.get(hi), citation.get(field)
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= n):
            problems.append(f"{field} offsets {start}-{end} outside the document (length {n})")
        elif document_text[start:end] != text:
            problems.append(f"{field} != text[{start}:{end}]")
    return problems


def locate_passage(document_text: str, passage: str) -> tuple[int, int] | None:
    """Where a gold paragraph sits in a document: (start, end) of its first exact occurrence, or
    of its white-space-stripped form; None when it does not occur (or is empty)."""
    for candidate in (passage, passage.strip()):
        if candidate:
            at = document_text.find(candidate)
            if at >= 0:
                return at, at + len(candidate)
    return None


def passage_overlaps(
    citation: Mapping[str, Any], gold_doc: str, gold_span: tuple[int, int] | None,
    gold_passage: str,
) -> bool:
    """SQuAD passage hit: the cited passage and the gold paragraph share at least one character.

    With the gold paragraph located in ``gold_doc`` (``gold_span``), a citation of that document
    hits when [passage_start, passage_end) intersects the span. When it could not be located, fall
    back to text: one of passage / gold paragraph contains the other (after stripping white space);
    an empty gold paragraph never hits."""
    if citation.get("doc_id") != gold_doc:
        return False
    if gold_span is not None:
        start, end = citation.get("passage_start", 0), citation.get("passage_end", 0)
        return max(start, gold_span[0]) < min(end, gold_span[1])
    gold, cited = gold_passage.strip(), str(citation.get("passage", "")).strip()
    return bool(gold) and bool(cited) and (gold in cited or cited in gold)


# ---- per question: documents -----------------------------------------------------------------


def distinct_docs(doc_ids: Iterable[str]) -> list[str]:
    """Doc ids in first-seen order, duplicates dropped (a document ranks by its best chunk)."""
    return list(dict.fromkeys(doc_ids))


def doc_recall_at(ranked_docs: Sequence[str], relevant: Iterable[str], k: int) -> float | None:
    """Document recall@k: |relevant ∩ distinct(ranked)[:k]| / |relevant|; None without relevant
    documents (an unanswerable question has nothing to recall)."""
    gold = set(relevant)
    if not gold:
        return None
    return len(gold.intersection(distinct_docs(ranked_docs)[:k])) / len(gold)


def ndcg_at(ranked_docs: Sequence[str], relevant: Iterable[str], k: int = 10) -> float | None:
    """nDCG@k with binary relevance over distinct doc ids (BEIR/trec_eval convention):
    DCG = sum of 1/log2(rank+1) over relevant docs in the top k; the ideal ranks every relevant
    doc first (min(|relevant|, k) of them). None without relevant documents."""
    gold = set(relevant)
    if not gold:
        return None
    dcg = sum(
        1.0 / math.log2(rank + 1)
        for rank, doc in enumerate(distinct_docs(ranked_docs)[:k], start=1) if doc in gold
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# ---- aggregates over rows --------------------------------------------------------------------


def mean(values: Iterable[float | bool | None]) -> float | None:
    """Arithmetic mean of the non-None values; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def answerable(rows: Iterable[Row]) -> list[Row]:
    """Rows whose question has at least one gold answer."""
    return [r for r in rows if r["gold_answers"]]


def answer_at_1(rows: Sequence[Row]) -> float | None:
    """answer@1: the share of ANSWERABLE questions whose answer contains a gold answer (abstentions
    count as wrong). Unanswerable questions are measured by the abstention metrics instead."""
    return mean(r["answer_correct"] for r in answerable(rows))


def accuracy(rows: Sequence[Row]) -> float | None:
    """The share of all questions judged right by ``question_correct`` (answered correctly, or
    correctly abstained on an unanswerable one)."""
    return mean(r["correct"] for r in rows)


def exact_span_rate(rows: Sequence[Row]) -> float | None:
    """The share of answerable questions whose highlight equals a gold answer (``span_exact``)."""
    return mean(r["span_exact"] for r in answerable(rows))


def _span_prediction(row: Row) -> str | None:
    # from the row's own fields, so that older rows.jsonl files can be re-scored too
    return spans.span_prediction(row.get("answer"), row.get("highlight"), bool(row["abstained"]))


def span_em(rows: Sequence[Row]) -> float | None:
    """SQuAD exact match of the highlight (the whole answer when there is none) over ANSWERABLE
    questions, max over gold answers; abstentions and errors score 0."""
    return mean(spans.exact_match(_span_prediction(r), r["gold_answers"])
                for r in answerable(rows))


def span_f1(rows: Sequence[Row]) -> float | None:
    """SQuAD token F1 of the highlight (as ``span_em``) over answerable questions."""
    return mean(spans.token_f1(_span_prediction(r), r["gold_answers"]) for r in answerable(rows))


def answered(rows: Iterable[Row]) -> list[Row]:
    """Rows that came back with an answer (not abstained, not an error)."""
    return [r for r in rows if not r["abstained"] and r.get("answer") and not r.get("error")]


def median_quote_chars(rows: Sequence[Row]) -> float | None:
    """Median length in characters of the answer quote over answered questions: how much a user
    reads to find the answer (a highlight does not shorten the quote)."""
    return percentile([float(len(r["answer"])) for r in answered(rows)], 50)


def conflict_false_alarm_rate(rows: Sequence[Row]) -> float | None:
    """Of the answered questions whose kind is not "conflict", the share whose answer lists
    conflicts: a warning the user did not need (None: no such question)."""
    plain = [r for r in answered(rows) if r["kind"] != "conflict"]
    return mean(bool(r.get("conflicts")) for r in plain)


def conflict_recall(rows: Sequence[Row]) -> float | None:
    """Of the questions of kind "conflict" (the sources disagree), the share whose answer lists
    conflicts; an abstention or error lists none and counts as missed (None: no such question)."""
    return mean(bool(r.get("conflicts")) for r in rows if r["kind"] == "conflict")


def hit_at_k(rows: Sequence[Row], k: int, rank_key: str = "first_hit_rank") -> float | None:
    """hit@k over answerable questions: a citation among the first k holds a gold answer. The
    citations of an abstention (offered as "related") count too: this measures retrieval."""
    return mean(hit_at(r[rank_key], k) for r in answerable(rows))


def mrr(rows: Sequence[Row], rank_key: str = "first_hit_rank") -> float | None:
    """Mean reciprocal rank of the first hitting citation over answerable questions (0 for none)."""
    return mean(reciprocal_rank(r[rank_key]) for r in answerable(rows))


def mean_doc_recall(rows: Sequence[Row], k: int) -> float | None:
    """Mean document recall@k over the rows that have relevant documents."""
    return mean(doc_recall_at(r["ranked_docs"], r["gold_docs"], k) for r in rows)


def mean_ndcg(rows: Sequence[Row], k: int = 10) -> float | None:
    """Mean nDCG@k over the rows that have relevant documents."""
    return mean(ndcg_at(r["ranked_docs"], r["gold_docs"], k) for r in rows)


def doc_accuracy_at_1(rows: Sequence[Row]) -> float | None:
    """The share of rows with relevant documents whose top-ranked document is one of them
    (no ranked document: wrong)."""
    scored = [r for r in rows if r["gold_docs"]]
    return mean(bool(r["ranked_docs"]) and r["ranked_docs"][0] in r["gold_docs"] for r in scored)


def citation_validity(rows: Sequence[Row]) -> float | None:
    """The share of all citations (answer citations and conflict quotes) whose quote and passage
    equal their document's text at their offsets. None when no row has any citation. Must be 1.0."""
    total = sum(r["citations_checked"] for r in rows)
    if not total:
        return None
    return 1.0 - sum(r["citations_invalid"] for r in rows) / total


def answer_grounding(rows: Sequence[Row]) -> float | None:
    """The share of rows that keep the answer contract (``answer_grounding_errors`` empty)."""
    return mean(not r["grounding_errors"] for r in rows if not r.get("error"))


def abstention(rows: Sequence[Row]) -> dict[str, float | None]:
    """Abstention as a detector of unanswerable questions.

    - precision: of the questions abstained on, the share that were unanswerable (None: no
      abstention);
    - recall: of the unanswerable questions, the share abstained on (None: none unanswerable);
    - false_abstention_rate: of the answerable questions, the share abstained on (None: none
      answerable);
    - rate: the share of all questions abstained on."""
    abstained = [r for r in rows if r["abstained"]]
    unanswerable = [r for r in rows if not r["gold_answers"]]
    answerable_rows = answerable(rows)
    return {
        "precision": mean(not r["gold_answers"] for r in abstained) if abstained else None,
        "recall": mean(r["abstained"] for r in unanswerable),
        "false_abstention_rate": mean(r["abstained"] for r in answerable_rows),
        "rate": mean(r["abstained"] for r in rows),
    }


def reliability(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = CALIBRATION_BINS
) -> list[dict[str, float | int | None]]:
    """Reliability-diagram data: ``bins`` equal-width confidence bins over [0, 1]; bin i holds
    i/bins <= c < (i+1)/bins, the last bin also holds c == 1 (values are clipped into [0, 1]).
    Each bin: lower/upper edge, count, mean confidence and accuracy (None for an empty bin)."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for c, ok in zip(confidences, outcomes, strict=True):
        c = min(1.0, max(0.0, float(c)))
        grouped[min(bins - 1, int(c * bins))].append((c, bool(ok)))
    return [
        {
            "lower": i / bins,
            "upper": (i + 1) / bins,
            "count": len(members),
            "confidence": mean(c for c, _ in members),
            "accuracy": mean(ok for _, ok in members),
        }
        for i, members in enumerate(grouped)
    ]


def expected_calibration_error(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = CALIBRATION_BINS
) -> float | None:
    """ECE = sum over bins of (n_bin / N) * |accuracy_bin - mean confidence_bin|, with the bins of
    ``reliability``; empty bins add nothing. None for no questions."""
    if not confidences:
        return None
    n = len(confidences)
    return sum(
        b["count"] / n * abs(b["accuracy"] - b["confidence"])  # type: ignore[operator]
        for b in reliability(confidences, outcomes, bins) if b["count"]
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), numpy's linear interpolation; None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency(rows: Sequence[Row], key: str = "latency_ms") -> dict[str, float | None]:
    """p50/p95/max of per-question latency in milliseconds (rows that errored are left out)."""
    values = [float(r[key]) for r in rows if r.get(key) is not None and not r.get("error")]
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


# ---- summaries -------------------------------------------------------------------------------

K_VALUES = (1, 3, 5, 10)


def summarize_qa(rows: Sequence[Row]) -> dict[str, Any]:
    """Every answer metric for a set of rows (one mode): the numbers behind summary.json."""
    ok = [r for r in rows if not r.get("error")]
    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(answerable(rows)),
        "unanswerable": len(rows) - len(answerable(rows)),
        "errors": len(rows) - len(ok),
        "accuracy": accuracy(rows),
        "answer_at_1": answer_at_1(rows),
        "exact_span": exact_span_rate(rows),
        "span_em": span_em(rows),
        "span_f1": span_f1(rows),
        "median_quote_chars": median_quote_chars(rows),
        "conflict_false_alarm_rate": conflict_false_alarm_rate(rows),
        "conflict_recall": conflict_recall(rows),
    }
    for k in K_VALUES:
        out[f"hit_at_{k}"] = hit_at_k(rows, k)
    out["mrr"] = mrr(rows)
    if any("first_passage_rank" in r for r in rows):
        for k in K_VALUES:
            out[f"passage_recall_at_{k}"] = hit_at_k(rows, k, "first_passage_rank")
        out["passage_mrr"] = mrr(rows, "first_passage_rank")
    out["doc_accuracy_at_1"] = doc_accuracy_at_1(rows)
    out["doc_recall_at_5"] = mean_doc_recall(rows, 5)
    out["ndcg_at_10"] = mean_ndcg(rows, 10)
    out["citation_validity"] = citation_validity(rows)
    out["citations_checked"] = sum(r["citations_checked"] for r in rows)
    out["answer_grounding"] = answer_grounding(rows)
    for name, value in abstention(rows).items():
        out[f"abstention_{name}"] = value
    out["false_abstention_rate"] = out.pop("abstention_false_abstention_rate")
    confidences = [r["confidence"] for r in ok]
    outcomes = [r["calibration_outcome"] for r in ok]
    out["ece"] = expected_calibration_error(confidences, outcomes)
    out["mean_confidence"] = mean(confidences)
    out["latency_ms"] = latency(rows)
    out["engine_ms"] = latency(rows, "engine_ms")
    return out


def summarize_retrieval(rows: Sequence[Row]) -> dict[str, Any]:
    """Retrieval-only metrics (SciFact): nDCG@10, recall@k, MRR over documents, latency."""
    first = [
        next((i for i, d in enumerate(r["ranked_docs"], 1) if d in r["gold_docs"]), None)
        for r in rows if r["gold_docs"]
    ]
    return {
        "questions": len(rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "ndcg_at_10": mean_ndcg(rows, 10),
        "recall_at_10": mean_doc_recall(rows, 10),
        "recall_at_100": mean_doc_recall(rows, 100),
        "mrr": mean(reciprocal_rank(rank) for rank in first),
        "latency_ms": latency(rows),
    }


REPORTED_SPLITS = ("test", "dev")  # the order reports show them in: test leads, dev beside it


def reported(rows: Iterable[R]) -> list[R]:
    """Rows that may enter a reported figure: never a question of split "train" (the scoring
    weights were fitted on those articles)."""
    return [r for r in rows if r.get("split") != "train"]


def headline_split(rows: Sequence[Row]) -> str | None:
    """The split the headline figures describe: "test" whenever the rows hold test questions,
    else the first reported split present (a dev-only run), None for no reported rows."""
    present = {r.get("split") for r in reported(rows)}
    return next((s for s in REPORTED_SPLITS if s in present), next(iter(present), None))


def by_split(rows: Sequence[Row], summarize: Any = summarize_qa) -> dict[str, dict[str, Any]]:
    """``summarize`` per reported split, test first then dev; with both present also "all"
    (dev and test together, train never included)."""
    kept = reported(rows)
    out = {s: summarize([r for r in kept if r.get("split") == s])
           for s in REPORTED_SPLITS if any(r.get("split") == s for r in kept)}
    if len(out) > 1:
        out["all"] = summarize(kept)
    return out


def by_kind(rows: Sequence[Row], summarize: Any = summarize_qa) -> dict[str, dict[str, Any]]:
    """``summarize`` applied to the rows of each question kind, kinds in sorted order."""
    kinds = sorted({r["kind"] for r in rows})
    return {kind: summarize([r for r in rows if r["kind"] == kind]) for kind in kinds}
