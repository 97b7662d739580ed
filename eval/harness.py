"""Run a question set against citeqa and turn every answer into a scored row.

Two targets: an ``Engine`` in this process (all three retrieval modes), or a running service by
URL (``POST {url}/v1/ask`` and ``GET {url}/v1/documents/{doc_id}``; the service answers in its
configured mode, reported as "hybrid"). Each row holds what came back (answer, citations,
confidence, timings) and the per-question verdicts of ``eval.metrics``; summaries are computed
from rows only, so a run can be re-scored or diffed from its ``rows.jsonl`` alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from tqdm import tqdm

from . import metrics, spans
from .datasets import Question

MODES = ("hybrid", "dense", "bm25")
ASK_TOP_K = 10  # citations asked for: hit@k is reported up to k = 10
SEARCH_DOCS = 100  # retrieval-only sets: documents ranked per question (recall@100)
SEARCH_CHUNKS = 1000  # chunks fetched to rank SEARCH_DOCS distinct documents
WARMUP_QUESTIONS = 5  # asked once, untimed, before the first timed question
QUOTE_CHARS = 200


class Target(Protocol):
    """What the harness needs from citeqa."""

    name: str
    modes: tuple[str, ...]

    def ask(self, question: str, top_k: int, mode: str) -> dict[str, Any]: ...

    def search(self, query: str, top_k: int, mode: str) -> list[dict[str, Any]]: ...

    def document(self, doc_id: str) -> str | None: ...


class EngineTarget:
    """An in-process ``retriever.engine.Engine``."""

    modes = MODES

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name = f"in-process index {engine.version}"
        self.weights_version = str(engine.model.version)
        self.index_version = str(engine.version)

    def ask(self, question: str, top_k: int, mode: str) -> dict[str, Any]:
        answer = self.engine.ask(question, top_k=top_k, mode=mode)
        return dict(answer.model_dump(mode="json"))

    def search(self, query: str, top_k: int, mode: str) -> list[dict[str, Any]]:
        return [hit.model_dump(mode="json") for hit in self.engine.search(query, top_k, mode=mode)]

    def document(self, doc_id: str) -> str | None:
        record = self.engine.document(doc_id)
        return None if record is None else str(record.text)


class ServiceError(RuntimeError):
    """The service cannot be evaluated (unreachable, not ready)."""


class HttpTarget:
    """A running citeqa service: the JSON API of ../shared/GUIDE.md.

    A 429 or 503 answer is retried after its Retry-After (the service rate-limits /v1/*), and the
    latency recorded for a question is that of its final attempt only (``last_call_ms``)."""

    modes = ("hybrid",)
    max_retries = 30
    max_wait_s = 30.0

    def __init__(self, url: str, *, timeout: float = 30.0, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.name = self.url
        self.client = client or httpx.Client(timeout=timeout)
        self.last_call_ms: float | None = None

    def check_ready(self) -> None:
        """Fail fast, before the first question, when the service is down or not ready."""
        try:
            response = self._send("GET", "/readyz")
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise ServiceError(f"{self.url}/readyz answered {response.status_code}: not ready")

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        for _ in range(self.max_retries):
            started = time.perf_counter()
            response = self.client.request(method, f"{self.url}{path}", json=body)
            self.last_call_ms = (time.perf_counter() - started) * 1e3
            if response.status_code not in (429, 503):
                return response
            time.sleep(_retry_after(response, self.max_wait_s))
        return response

    def ask(self, question: str, top_k: int, mode: str) -> dict[str, Any]:
        response = self._send("POST", "/v1/ask", {"question": question, "top_k": top_k})
        _raise_for_problem(response)
        return dict(response.json())

    def search(self, query: str, top_k: int, mode: str) -> list[dict[str, Any]]:
        raise ServiceError("retrieval-only sets run in-process only (the search API has no modes)")

    def document(self, doc_id: str) -> str | None:
        response = self._send("GET", f"/v1/documents/{quote(doc_id, safe='')}")
        if response.status_code == 404:
            return None
        _raise_for_problem(response)
        return str(response.json()["text"])


def _retry_after(response: httpx.Response, cap: float) -> float:
    try:
        return min(cap, max(0.05, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    title = ""
    try:
        body = response.json()
        title = str(body.get("title") or body.get("detail") or "")
    except ValueError:
        pass
    raise RuntimeError(f"HTTP {response.status_code} {title}".strip())


# ---- rows ------------------------------------------------------------------------------------


@dataclass
class DocumentCache:
    """Document texts fetched once per run (citation validity needs every cited document)."""

    fetch: Callable[[str], str | None]
    texts: dict[str, str | None] = field(default_factory=dict)

    def get(self, doc_id: str) -> str | None:
        if doc_id not in self.texts:
            self.texts[doc_id] = self.fetch(doc_id)
        return self.texts[doc_id]


def _base_row(q: Question, mode: str) -> dict[str, Any]:
    return {
        "id": q.id, "question": q.question, "kind": q.kind, "split": q.split, "mode": mode,
        "gold_answers": list(q.answers), "gold_docs": list(q.docs),
    }


def _slim(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation as stored in rows.jsonl: offsets and score, the quote cut to QUOTE_CHARS and
    no passage text (rows stay small; validity was checked on the full citation)."""
    keys = ("doc_id", "start", "end", "passage_start", "passage_end", "score")
    quote = str(citation.get("quote") or "")
    cut = quote if len(quote) <= QUOTE_CHARS else quote[: QUOTE_CHARS - 1] + "…"
    return {"quote": cut} | {k: citation.get(k) for k in keys}


def score_answer(
    q: Question, mode: str, answer: dict[str, Any], docs: DocumentCache, latency_ms: float
) -> dict[str, Any]:
    """One question's row: the answer as returned plus every per-question verdict."""
    citations = list(answer.get("citations") or [])
    conflicts = list(answer.get("conflicts") or [])
    text, abstained = answer.get("answer"), bool(answer.get("abstained"))
    highlight = answer.get("highlight")
    hits = metrics.citation_hits(citations, q.answers)
    problems, invalid = [], 0
    for c in citations + conflicts:
        errors = metrics.citation_errors(c, docs.get(c["doc_id"]))
        invalid += bool(errors)
        problems += [f"{c['doc_id']} {c.get('start')}-{c.get('end')}: {e}" for e in errors]
    checked = len(citations) + len(conflicts)
    ranked_docs = metrics.distinct_docs(c["doc_id"] for c in citations)
    row = _base_row(q, mode) | {
        "answer": text,
        "highlight": highlight,
        "highlight_text": (
            text[highlight["start"] : highlight["end"]] if text and highlight else None
        ),
        "abstained": abstained,
        "confidence": float(answer.get("confidence") or 0.0),
        "citations": [_slim(c) for c in citations],
        "conflicts": [_slim(c) for c in conflicts],
        "index_version": answer.get("index_version"),
        "timings_ms": answer.get("timings_ms") or {},
        "engine_ms": (answer.get("timings_ms") or {}).get("total"),
        "latency_ms": round(latency_ms, 2),
        "error": None,
        "correct": metrics.question_correct(text, abstained, q.answers),
        "answer_correct": metrics.answer_correct(text, abstained, q.answers),
        "span_exact": metrics.span_exact(text, highlight, abstained, q.answers),
        **_span_scores(text, highlight, abstained, q.answers),
        "quote_chars": len(text) if text and not abstained else None,
        "citation_hits": hits,
        "first_hit_rank": metrics.first_hit_rank(hits),
        "ranked_docs": ranked_docs,
        "doc_recall_at_5": metrics.doc_recall_at(ranked_docs, q.docs, 5),
        "ndcg_at_10": metrics.ndcg_at(ranked_docs, q.docs, 10),
        "citations_checked": checked,
        "citations_invalid": invalid,
        "citation_problems": problems,
        "grounding_errors": metrics.answer_grounding_errors(text, highlight, abstained, citations),
        "calibration_outcome": metrics.calibration_outcome(text, abstained, citations, q.answers),
    }
    if q.passage:
        gold_text = docs.get(q.docs[0]) if q.docs else None
        span = metrics.locate_passage(gold_text, q.passage) if gold_text else None
        passage_hits = [
            metrics.passage_overlaps(c, q.docs[0], span, q.passage) for c in citations
        ]
        row["gold_passage_located"] = span is not None
        row["passage_hits"] = passage_hits
        row["first_passage_rank"] = metrics.first_hit_rank(passage_hits)
    return row


def _span_scores(
    text: str | None, highlight: dict[str, int] | None, abstained: bool, answers: Sequence[str]
) -> dict[str, float | None]:
    """Per-row SQuAD EM/F1 of the highlighted span (None for an unanswerable question)."""
    if not answers:
        return {"span_em": None, "span_f1": None}
    predicted = spans.span_prediction(text, highlight, abstained)
    return {"span_em": spans.exact_match(predicted, answers),
            "span_f1": spans.token_f1(predicted, answers)}


def error_row(q: Question, mode: str, error: str, *, retrieval: bool = False) -> dict[str, Any]:
    """A question that could not be asked: wrong on every metric, and counted as an error."""
    row = _base_row(q, mode) | {"error": error, "ranked_docs": [], "latency_ms": None}
    if retrieval:
        return row | {"ndcg_at_10": 0.0 if q.docs else None, "recall_at_100": 0.0}
    row |= {
        "answer": None, "highlight": None, "highlight_text": None, "abstained": False,
        "confidence": 0.0, "citations": [], "conflicts": [], "index_version": None,
        "timings_ms": {}, "engine_ms": None, "correct": False, "answer_correct": False,
        "span_exact": False, **_span_scores(None, None, False, q.answers), "quote_chars": None,
        "citation_hits": [], "first_hit_rank": None,
        "doc_recall_at_5": 0.0 if q.docs else None, "ndcg_at_10": 0.0 if q.docs else None,
        "citations_checked": 0, "citations_invalid": 0, "citation_problems": [],
        "grounding_errors": [], "calibration_outcome": False,
    }
    if q.passage:
        row |= {"gold_passage_located": False, "passage_hits": [], "first_passage_rank": None}
    return row


def score_search(
    q: Question, mode: str, hits: Sequence[dict[str, Any]], latency_ms: float
) -> dict[str, Any]:
    """A retrieval-only row: documents ranked by their best chunk, the first SEARCH_DOCS kept."""
    ranked = metrics.distinct_docs(h["doc_id"] for h in hits)[:SEARCH_DOCS]
    return _base_row(q, mode) | {
        "ranked_docs": ranked,
        "ndcg_at_10": metrics.ndcg_at(ranked, q.docs, 10),
        "recall_at_100": metrics.doc_recall_at(ranked, q.docs, 100),
        "first_relevant_rank": next((i for i, d in enumerate(ranked, 1) if d in q.docs), None),
        "latency_ms": round(latency_ms, 2),
        "error": None,
    }


# ---- running ---------------------------------------------------------------------------------


@dataclass
class EvalRun:
    dataset: str
    split: str
    task: str  # "qa" (answers) or "retrieval" (documents only)
    target: str
    modes: list[str]
    top_k: int
    rows: list[dict[str, Any]]
    seconds: dict[str, float]
    missing_docs: list[str] = field(default_factory=list)
    weights_version: str | None = None  # the scoring model's version, when known (in-process)
    index_version: str | None = None  # in-process: the engine's index version


def run(
    questions: Sequence[Question], target: Target, *, dataset: str, split: str,
    modes: Sequence[str] = MODES, task: str = "qa", top_k: int = ASK_TOP_K,
    progress: bool = True,
) -> EvalRun:
    """Ask every question in every mode (mode by mode, questions in order) and score each."""
    unsupported = [m for m in modes if m not in target.modes]
    if unsupported:
        raise ValueError(f"{target.name} cannot run mode(s) {', '.join(unsupported)}")
    docs = DocumentCache(target.document)
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    bar = tqdm(
        total=len(questions) * len(modes), desc=f"eval {dataset}", unit="q", file=sys.stderr,
        disable=not progress, dynamic_ncols=True,
    )
    _warm_up(questions, target, modes[0] if modes else "hybrid", task, top_k)
    with bar:
        for mode in modes:
            bar.set_postfix_str(mode)
            started = time.perf_counter()
            for q in questions:
                rows.append(_ask_one(q, mode, target, docs, task, top_k))
                bar.update()
            seconds[mode] = round(time.perf_counter() - started, 2)
    gold_docs = sorted({d for q in questions for d in q.docs})
    missing = [d for d in gold_docs if docs.get(d) is None] if task == "qa" else []
    return EvalRun(dataset, split, task, target.name, list(modes), top_k, rows, seconds, missing,
                   getattr(target, "weights_version", None), getattr(target, "index_version", None))


def _warm_up(
    questions: Sequence[Question], target: Target, mode: str, task: str, top_k: int
) -> None:
    """The first calls into a fresh model are several times slower than the rest (kernel and
    allocator warm-up); a few untimed questions keep that out of the latency figures."""
    for q in questions[:WARMUP_QUESTIONS]:
        try:
            if task == "retrieval":
                target.search(q.question, SEARCH_CHUNKS, mode)
            else:
                target.ask(q.question, top_k, mode)
        except ServiceError:
            raise
        except Exception:  # noqa: S110 - a failing question is reported by the timed run
            pass


def _ask_one(
    q: Question, mode: str, target: Target, docs: DocumentCache, task: str, top_k: int
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        if task == "retrieval":
            hits = target.search(q.question, SEARCH_CHUNKS, mode)
            return score_search(q, mode, hits, (time.perf_counter() - started) * 1e3)
        answer = target.ask(q.question, top_k, mode)
        # over HTTP, the final attempt's time (waits for a rate limit are not latency)
        elapsed = getattr(target, "last_call_ms", None) or (time.perf_counter() - started) * 1e3
        return score_answer(q, mode, answer, docs, elapsed)
    except ServiceError:
        raise
    except Exception as exc:  # one bad question must not end the run; it is reported per row
        return error_row(q, mode, f"{type(exc).__name__}: {exc}", retrieval=task == "retrieval")
