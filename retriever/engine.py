"""The query path: question -> hybrid retrieval -> pre-ranked shortlist -> answer model -> Answer.

Two model calls per question: the question embedding, then one batched answer-model call over the
best N pre-ranked sentences. Sentence vectors, tokens and BM25 statistics all come from the index.
Output is deterministic for a given index, models and question: every ranking breaks ties by row
id (or by pre-ranker order), and nothing depends on time or randomness except ``timings_ms``.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from index.embed import Encoder
from index.lexical import TOKENIZER_VERSION, tokenize
from index.manifest import check_compatible
from index.records import DocumentRecord
from index.store import IndexSnapshot, load_snapshot

from .answer_model import AnswerModelError, Candidate, Reader, Scored, check_reader
from .compose import answer_span, citation_for, find_conflicts, highlight_in, sentence_span
from .corpus import Corpus
from .features import sentence_features
from .fusion import FusedHit, FusionParams, RankedList, best_per_group, fuse, top_k
from .language.en import AnswerType, content_terms, question_type
from .schema import Answer, Citation, RetrieverTrace, SearchHit
from .weights import ScoringModel

Mode = Literal["hybrid", "dense", "bm25"]
# Longer than any real question; the HTTP schema enforces the same bound before the engine runs.
MAX_QUESTION_CHARS = 1000


class QuestionError(ValueError):
    """A question that cannot be asked; the message is safe to show (it never echoes input)."""


def validate_question(question: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in question):
        raise QuestionError("the question contains control characters")
    text = " ".join(question.split())
    if not text:
        raise QuestionError("the question is empty")
    if len(text) > max_chars:
        raise QuestionError(f"the question is longer than {max_chars} characters")
    return text


@dataclass(frozen=True)
class EngineParams:
    """How the engine answers. Settings choose the last three; the rest keep the values the
    pre-ranker and the answer model were fitted with, and only evaluation varies them (a deeper
    ``fusion.depth`` for retrieval-only sets)."""

    fusion: FusionParams = field(default_factory=FusionParams)
    candidate_chunks: int = 10  # fused chunks whose sentences are pre-ranked
    candidate_sentences: int = 30  # plus the best sentences by dense similarity
    top_k: int = 5  # citations returned
    answer_candidates: int | None = None  # N pre-ranked sentences the reader reads (None: its own)
    abstain_below: float | None = None  # confidence threshold (None: the reader's fitted default)


@dataclass(frozen=True)
class Retrieval:
    """One question's retrieval: the fused chunk ranking and what sentence scoring reuses."""

    fused: list[FusedHit]
    vector: np.ndarray
    tokens: list[str]
    dense_sentences: RankedList
    embed_ms: float
    retrieve_ms: float


@dataclass(frozen=True)
class Candidates:
    """Everything scored for one question (also what the pre-ranker fitting learns from)."""

    question: str
    qtype: AnswerType
    question_tokens: tuple[str, ...]
    rows: np.ndarray  # candidate sentence rows
    features: np.ndarray  # (len(rows), len(FEATURES))
    fused: list[FusedHit]  # fused chunk ranking
    embed_ms: float
    retrieve_ms: float
    features_ms: float = 0.0  # picking the candidate sentences and computing their features


@dataclass(frozen=True)
class Shortlist:
    """The candidates in pre-ranker order: ``order`` indexes ``candidates.rows`` and ``scores``."""

    candidates: Candidates
    scores: np.ndarray  # pre-ranker score per candidate (a logit)
    order: list[int]


class ReaderChoices:
    """The answer model and what is chosen around it (how many candidates it reads, the
    abstention threshold): shared by this engine and the sharded one (cluster/engine.py)."""

    _reader: Reader | None
    params: EngineParams

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise AnswerModelError("this engine has no answer model: it can search, not answer")
        return self._reader

    @property
    def answer_candidates(self) -> int:
        return self.params.answer_candidates or self.reader.info.candidates

    @property
    def abstain_below(self) -> float:
        chosen = self.params.abstain_below
        return self.reader.info.abstain_below if chosen is None else chosen

    def judge(self, readings: Sequence[Scored], prerank_scores: Sequence[float]) -> Judgement:
        """Rank what the answer model read (its logit plus the pre-ranker's share; ties keep the
        pre-ranker's order), calibrate each, and decide whether the best one answers."""
        info = self.reader.info
        combined = [info.combine(r.logit, s) for r, s in zip(readings, prerank_scores,
                                                              strict=True)]
        ranked = sorted(range(len(combined)), key=lambda i: -combined[i])  # stable sort
        probabilities = [info.calibration(info.decision(combined[i], readings[i]))
                         for i in ranked]
        confidence = probabilities[0] if ranked else 0.0
        return Judgement(ranked, probabilities, confidence,
                         bool(ranked) and confidence >= self.abstain_below)


@dataclass(frozen=True)
class Judgement:
    """The answer model's verdict on one question's read candidates."""

    ranked: list[int]  # indices into the read candidates, best first
    probabilities: list[float]  # the calibrated confidence of each, in ranked order
    confidence: float  # the best one's (0 without candidates)
    answered: bool  # the best one is at least the abstention threshold


class Engine(ReaderChoices):
    def __init__(
        self,
        snapshot: IndexSnapshot,
        encoder: Encoder,
        model: ScoringModel,
        params: EngineParams | None = None,
        reader: Reader | None = None,
    ) -> None:
        check_compatible(snapshot.manifest, encoder.identity, TOKENIZER_VERSION, encoder=encoder)
        # Without a reader the engine retrieves and pre-ranks (search, shortlists) but cannot
        # answer: the answer model's own fitting builds its examples that way.
        if reader is not None:
            check_reader(reader.info, snapshot.manifest, model.version)
        self._reader = reader
        self.corpus = Corpus.from_snapshot(snapshot)
        self.encoder = encoder
        self.model = model
        self.params = params or EngineParams()

    @classmethod
    def open(
        cls,
        index_dir: Path,
        encoder: Encoder,
        model: ScoringModel | None = None,
        params: EngineParams | None = None,
        reader: Reader | None = None,
    ) -> Engine:
        return cls(
            load_snapshot(index_dir), encoder, model or ScoringModel.load(), params, reader
        )

    @property
    def version(self) -> str:
        return self.corpus.snapshot.version

    def close(self) -> None:
        """Release the index version's lease (garbage collection may then remove it); answers
        already built stay valid and the engine's data stays in memory."""
        self.corpus.snapshot.close()

    def document(self, doc_id: str) -> DocumentRecord | None:
        return self.corpus.documents.get(doc_id)

    # ---- retrieval -----------------------------------------------------------------------

    def _retrieve(self, question: str, mode: Mode) -> Retrieval:
        """Embed once, search every retriever the mode uses, fuse the chunk rankings."""
        t0 = time.perf_counter()
        vector = self.encoder.encode([question])[0]
        t1 = time.perf_counter()
        tokens = content_terms(tokenize(question))
        snap, fusion = self.corpus.snapshot, self.params.fusion
        lists: dict[str, RankedList] = {}
        dense_sentences = RankedList(*reversed(snap.sentence_dense.search(vector, fusion.depth)))
        if mode in ("hybrid", "dense"):
            lists["dense"] = RankedList(*reversed(snap.chunk_dense.search(vector, fusion.depth)))
            lists["sentence"] = best_per_group(dense_sentences, self.corpus.owner_chunk)
        if mode in ("hybrid", "bm25"):
            lists["bm25"] = top_k(snap.chunk_bm25.scores(tokens), fusion.depth)
        weights = {
            "dense": fusion.dense_weight,
            "bm25": fusion.bm25_weight,
            "sentence": fusion.sentence_weight,
        }
        fused = fuse(lists, weights, fusion.rrf_k)
        t2 = time.perf_counter()
        return Retrieval(fused, vector, tokens, dense_sentences, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def candidates(self, question: str, mode: Mode = "hybrid") -> Candidates:
        question = validate_question(question)
        found = self._retrieve(question, mode)
        fused, vector, tokens = found.fused, found.vector, found.tokens
        t0 = time.perf_counter()
        # Sentence BM25 feeds the scorer only, so search() never pays for it.
        sentence_bm25 = self.corpus.snapshot.sentence_bm25.scores(tokens)
        retrieve_ms = found.retrieve_ms + (time.perf_counter() - t0) * 1e3
        t_features = time.perf_counter()
        rows: set[int] = set()
        for hit in fused[: self.params.candidate_chunks]:
            rows.update(
                range(self.corpus.chunk_first_row[hit.row], self.corpus.chunk_last_row[hit.row])
            )
        if mode != "bm25":
            rows.update(found.dense_sentences.ids[: self.params.candidate_sentences].tolist())
        ordered = np.array(sorted(rows), dtype=np.int64)
        ordered = ordered[self.corpus.answerable[ordered]] if len(ordered) else ordered
        qtype = question_type(question)
        chunk_rank = {hit.row: hit.fused_rank for hit in fused}
        features = sentence_features(
            self.corpus, ordered, question, vector, tokens, qtype, sentence_bm25, chunk_rank
        )
        features_ms = (time.perf_counter() - t_features) * 1e3
        return Candidates(
            question, qtype, tuple(tokens), ordered, features, fused, found.embed_ms, retrieve_ms,
            features_ms,
        )

    def shortlist(self, question: str, mode: Mode = "hybrid") -> Shortlist:
        """The candidates, their pre-ranker scores and their order by it (best first, ties by
        row): what the answer model reads the head of."""
        cands = self.candidates(question, mode)
        scores = self.model.score(cands.features) if len(cands.rows) else np.zeros(0, np.float32)
        order = sorted(
            range(len(cands.rows)), key=lambda i: (-float(scores[i]), int(cands.rows[i]))
        )
        return Shortlist(cands, np.asarray(scores, dtype=np.float64), order)

    # ---- answering -----------------------------------------------------------------------

    def ask(
        self, question: str, top_k: int | None = None, *, debug: bool = False, mode: Mode = "hybrid"
    ) -> Answer:
        started = time.perf_counter()
        listed = self.shortlist(question, mode)
        cands, order = listed.candidates, listed.order
        t_read = time.perf_counter()
        k = top_k or self.params.top_k
        head = [int(cands.rows[i]) for i in order[: self.answer_candidates]]
        rest = [int(cands.rows[i]) for i in order[self.answer_candidates :]]
        corpus = self.corpus
        readings = self.reader.score(
            cands.question,
            [Candidate(corpus.sentence_text(row), corpus.context_of(row)) for row in head],
        )
        # head[j] is candidate order[j]: its reading and its pre-ranker score combine.
        verdict = self.judge(readings, [float(listed.scores[j]) for j in order[: len(head)]])
        ranked, probabilities = verdict.ranked, verdict.probabilities
        confidence, answered = verdict.confidence, verdict.answered
        ranked_rows = [head[i] for i in ranked]
        t_answer = time.perf_counter()
        answer_text, highlight, conflicts = None, None, []
        citations: list[Citation] = []
        used_chunks: set[int] = set()
        if answered:
            best = ranked[0]
            span = answer_span(self.corpus, head[best])
            answer_text = span.text
            highlight = highlight_in(self.corpus, span, head[best], readings[best].span)
            citations.append(citation_for(self.corpus, span, confidence))
            others = [
                (head[i], p, readings[i].span)
                for i, p in zip(ranked[1:], probabilities[1:], strict=True)
            ]
            conflicts = find_conflicts(self.corpus, span, highlight, others, self.abstain_below)
            used_chunks.add(int(self.corpus.owner_chunk[span.first_row]))
        related_rows = ranked_rows + rest
        related_scores = probabilities + [0.0] * len(rest)
        citations.extend(
            self._related(related_rows, related_scores, used_chunks, k - len(citations))
        )
        timings = {
            "embed": cands.embed_ms,
            "retrieve": cands.retrieve_ms,
            # the pre-ranker's features and scores
            "score": cands.features_ms,
            # the answer model's one batched call over the shortlist, and its calibration
            "read": (t_answer - t_read) * 1e3,
            # the quote, highlight, conflicts and citations
            "answer": (time.perf_counter() - t_answer) * 1e3,
            "total": (time.perf_counter() - started) * 1e3,
        }
        return Answer(
            question=cands.question,
            answer=answer_text,
            highlight=highlight,
            abstained=not answered,
            confidence=round(confidence, 4),
            citations=citations[:k],
            conflicts=conflicts,
            index_version=self.version,
            answer_model=self.reader.info.name,
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
            debug=[self._trace(hit) for hit in cands.fused[:k]] if debug else None,
        )

    def _related(
        self,
        ranked_rows: list[int],
        probabilities: list[float],
        used_chunks: set[int],
        limit: int,
    ) -> list[Citation]:
        """The best sentence of each further chunk, best first, one citation per chunk."""
        out: list[Citation] = []
        for row, probability in zip(ranked_rows, probabilities, strict=True):
            if len(out) >= limit:
                break
            chunk = int(self.corpus.owner_chunk[row])
            if chunk in used_chunks:
                continue
            used_chunks.add(chunk)
            out.append(citation_for(self.corpus, sentence_span(self.corpus, row, row), probability))
        return out

    def _trace(self, hit: FusedHit) -> RetrieverTrace:
        return RetrieverTrace(
            chunk_id=self.corpus.snapshot.content.chunks[hit.row].id,
            fused_rank=hit.fused_rank,
            fused_score=round(hit.fused_score, 6),
            dense_rank=hit.ranks.get("dense"),
            dense_score=_round(hit.scores.get("dense")),
            bm25_rank=hit.ranks.get("bm25"),
            bm25_score=_round(hit.scores.get("bm25")),
            sentence_rank=hit.ranks.get("sentence"),
            sentence_score=_round(hit.scores.get("sentence")),
        )

    def search(
        self, query: str, top_k: int | None = None, mode: Mode = "hybrid"
    ) -> list[SearchHit]:
        query = validate_question(query)
        fused = self._retrieve(query, mode).fused
        hits = []
        for hit in fused[: top_k or self.params.top_k]:
            chunk = self.corpus.snapshot.content.chunks[hit.row]
            doc = self.corpus.documents[chunk.doc_id]
            hits.append(
                SearchHit(
                    doc_id=doc.doc_id,
                    title=doc.title,
                    url=doc.url,
                    passage=chunk.text,
                    passage_start=chunk.start,
                    passage_end=chunk.end,
                    score=round(hit.fused_score, 6),
                    trace=self._trace(hit),
                )
            )
        return hits


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
