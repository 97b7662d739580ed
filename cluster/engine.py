"""The coordinator of a sharded index: the one-process engine's question path
(``retriever.engine.Engine``) with its per-row work done by the shards that hold the rows.

Per question: embed once; every shard returns its best units of each retriever, merged here by
score with ties by collection row (``RowSpace``), exactly as one index ranks them, and fused;
the shards holding the best chunks and sentences return those candidates with their per-row
features and their citations; the features that compare candidates, the pre-ranker and the
answer model (one batched call) run here, and the answer is made here from what the shards
sent (two rounds to the shards a question; one when they speculate). Scores
use the collection's statistics (``stats``), so the answer JSON is the one-process engine's
but for timings and the version name. A shard that fails makes the question fail
(``ShardUnavailable``): an answer from part of the collection is never passed off as whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.embed import Encoder
from index.lexical import TOKENIZER_VERSION, tokenize
from index.manifest import check_compatible
from index.records import DocumentRecord
from retriever.answer_model import Candidate, Reader, check_reader
from retriever.compose import OtherReading, conflicting_rows
from retriever.corpus import CollectionIdf, idf_or_unseen
from retriever.engine import EngineParams, ReaderChoices, validate_question
from retriever.features import FEATURES, candidate_features
from retriever.fusion import FusedHit, RankedList, best_per_group, fuse
from retriever.language.en import content_terms
from retriever.schema import Answer, Citation, RetrieverTrace, SearchHit
from retriever.weights import ScoringModel

from .calls import ShardCalls
from .protocol import (
    AnswerPart,
    CandidateRequest,
    Citing,
    DocumentTitle,
    Passage,
    Quote,
    Ranked,
    ShardCandidates,
    ShardHits,
    Speculation,
)
from .rows import RowSpace
from .stats import CollectionStats, QueryStats

_CHUNK_RRF = FEATURES.index("chunk_rrf")
# A shard's best fused chunks by its own rankings are not quite the collection's best from it
# (fusion mixes ranks that merging shifts unevenly), so a shard speculates on twice as many
# (README: how often either depth needed a second round).
SPECULATE_CHUNKS = 2


@dataclass(frozen=True)
class _Retrieved:
    """One question's merged retrieval (``Engine``'s ``Retrieval``, with the query's
    collection statistics)."""

    fused: list[FusedHit]
    vector: np.ndarray
    tokens: list[str]
    dense_sentences: RankedList
    query: QueryStats
    hits: dict[int, ShardHits]
    embed_ms: float
    retrieve_ms: float


@dataclass(frozen=True)
class _Pool:
    """Every shard's candidates in collection row order."""

    rows: np.ndarray
    shard: np.ndarray
    local: np.ndarray
    features: np.ndarray
    tokens: list[tuple[str, ...]]
    owner_chunk: np.ndarray  # collection chunk rows
    doc_ids: list[str]
    texts: list[str]
    contexts: list[str]
    quotes: list[Quote]
    citing: Citing

    def answer(self, i: int, reader_span: tuple[int, int] | None,
               confidence: float) -> AnswerPart:
        return self.citing.answer(self.quotes[i], reader_span, confidence)

    def cite(self, cited: Sequence[tuple[int, float]]) -> list[Citation]:
        """A one-sentence citation of each ``(entry, score)``, in order."""
        return [self.citing.cite(self.quotes[i].sentence, score) for i, score in cited]


class ShardedEngine(ReaderChoices):
    def __init__(self, shards: ShardCalls, encoder: Encoder, model: ScoringModel,
                 params: EngineParams | None = None, reader: Reader | None = None, *,
                 version: str, speculate: bool = False) -> None:
        summaries = [found for _, found in sorted(
            shards.call("summary", {s: () for s in range(len(shards))}).items())]
        for summary in summaries:
            check_compatible(summary.manifest, encoder.identity, TOKENIZER_VERSION,
                             encoder=encoder)
            if reader is not None:
                check_reader(reader.info, summary.manifest, model.version)
        self.shards, self.encoder, self.model = shards, encoder, model
        self.params = params or EngineParams()
        self._reader = reader
        self.version = version
        # Candidates sent with the rankings: one round to the shards fewer per question, for
        # some features computed in vain (see Speculation).
        self.speculate = speculate
        self.rows = RowSpace(summaries)
        self.stats = CollectionStats([s.stats for s in summaries])
        self._doc_shard = {d: s for s, summary in enumerate(summaries) for d in summary.doc_ids}
        self.catalogue = _Catalogue({d: DocumentTitle(d, title) for summary in summaries
                                     for d, title in zip(summary.doc_ids, summary.titles,
                                                         strict=True)})

    @property
    def corpus(self) -> _Catalogue:
        """What the service's demo page reads of an engine's corpus: the documents' titles."""
        return self.catalogue

    def close(self) -> None:
        """Nothing to release here: the shards hold their versions' leases."""

    @property
    def doc_ids(self) -> tuple[str, ...]:
        return self.rows.doc_ids

    def document(self, doc_id: str) -> DocumentRecord | None:
        shard = self._doc_shard.get(doc_id)
        if shard is None:
            return None
        found: DocumentRecord | None = self.shards.call("document", {shard: (doc_id,)})[shard]
        return found

    def _all(self, method: str, *args: Any) -> dict[int, Any]:
        return self.shards.call(method, {s: args for s in range(len(self.shards))})

    # ---- retrieval -----------------------------------------------------------------------

    def _merge(self, kind: str, ranked: Mapping[int, Ranked], depth: int) -> RankedList:
        """The best ``depth`` of the shards' rankings, by score then collection row."""
        rows = np.concatenate([self.rows.to_collection(kind, s, r.rows) for s, r in
                               sorted(ranked.items())] or [np.zeros(0, np.int64)])
        scores = np.concatenate([r.scores for _, r in sorted(ranked.items())]
                                or [np.zeros(0, np.float32)])
        order = np.lexsort((rows, -scores))[:depth]
        return RankedList(rows[order], scores[order])

    def _retrieve(self, question: str) -> _Retrieved:
        t0 = time.perf_counter()
        vector = self.encoder.encode([question])[0]
        t1 = time.perf_counter()
        tokens = content_terms(tokenize(question))
        query = self.stats.for_query(tokens)
        fusion = self.params.fusion
        speculation = Speculation(question, SPECULATE_CHUNKS * self.params.candidate_chunks,
                                  self.params.candidate_sentences, fusion) \
            if self.speculate else None
        hits: dict[int, ShardHits] = self._all("retrieve", vector, tuple(tokens), query,
                                               fusion.depth, speculation)
        sentences = self._merge("sentence", {s: h.sentence_dense for s, h in hits.items()},
                                fusion.depth)
        owner: dict[int, int] = {}
        for s, h in hits.items():
            rows = self.rows.to_collection("sentence", s, h.sentence_dense.rows)
            chunks = self.rows.to_collection("chunk", s, h.sentence_owner)
            owner.update(zip(rows.tolist(), chunks.tolist(), strict=True))
        lists = {
            "dense": self._merge("chunk", {s: h.chunk_dense for s, h in hits.items()},
                                 fusion.depth),
            "sentence": best_per_group(sentences, owner),
            "bm25": self._merge("chunk", {s: h.chunk_bm25 for s, h in hits.items()},
                                fusion.depth),
        }
        weights = {"dense": fusion.dense_weight, "bm25": fusion.bm25_weight,
                   "sentence": fusion.sentence_weight}
        fused = fuse(lists, weights, fusion.rrf_k)
        t2 = time.perf_counter()
        return _Retrieved(fused, vector, tokens, sentences, query, hits, (t1 - t0) * 1e3,
                          (t2 - t1) * 1e3)

    def _candidates(self, question: str, found: _Retrieved) -> _Pool:
        """``Engine.candidates``' rows (the sentences of the best fused chunks and the best
        sentences, answerable ones) with their features, from the shards' speculation where it
        covers them, else from a second round."""
        fused, hits = found.fused, found.hits
        wanted: dict[int, set[int]] = {}
        best_chunks = np.array([h.row for h in fused[: self.params.candidate_chunks]],
                               dtype=np.int64)
        for s, chunk in zip(*self.rows.to_shard("chunk", best_chunks), strict=True):
            first, last = hits[int(s)].chunk_sentences[int(chunk)]
            wanted.setdefault(int(s), set()).update(range(first, last))
        best_sentences = found.dense_sentences.ids[: self.params.candidate_sentences]
        for s, row in zip(*self.rows.to_shard("sentence", best_sentences), strict=True):
            wanted.setdefault(int(s), set()).add(int(row))
        replies: dict[int, ShardCandidates] = {}
        requests: dict[int, tuple[Any, ...]] = {}
        for s, rows in sorted(wanted.items()):
            speculated = hits[s].speculated
            if speculated is not None and rows <= hits[s].considered:
                replies[s] = speculated.subset(rows)
            else:  # a second round, for this shard only
                requests[s] = (CandidateRequest(question, found.vector, tuple(found.tokens),
                                                found.query, tuple(sorted(rows))),)
        replies.update(self.shards.call("candidates", requests) if requests else {})
        return self._pool(replies, {hit.row: hit.fused_rank for hit in fused})

    def _pool(self, replies: dict[int, ShardCandidates], chunk_rank: dict[int, int]) -> _Pool:
        parts = sorted(replies.items())
        rows = np.concatenate([self.rows.to_collection("sentence", s, c.rows) for s, c in parts]
                              or [np.zeros(0, np.int64)])
        order = np.argsort(rows, kind="stable")

        def gather(values: list[Any]) -> list[Any]:
            return [values[i] for i in order.tolist()]

        owner_chunk = np.concatenate(
            [self.rows.to_collection("chunk", s, c.owner_chunk) for s, c in parts]
            or [np.zeros(0, np.int64)])[order]
        features = np.concatenate([c.features for _, c in parts]
                                  or [np.zeros((0, len(FEATURES)), np.float32)])[order]
        # The one per-row feature that needs the collection's fusion: 1 / the fused rank of
        # the sentence's chunk (0 when not retrieved), as row_features computes it.
        for i, chunk in enumerate(owner_chunk.tolist()):
            rank = chunk_rank.get(chunk)
            features[i, _CHUNK_RRF] = 1.0 / rank if rank else 0.0
        return _Pool(
            rows=rows[order],
            shard=np.concatenate([np.full(len(c.rows), s) for s, c in parts]
                                 or [np.zeros(0, np.int64)])[order],
            local=np.concatenate([c.rows for _, c in parts] or [np.zeros(0, np.int64)])[order],
            features=features,
            tokens=gather([t for _, c in parts for t in c.tokens]),
            owner_chunk=owner_chunk,
            doc_ids=gather([q.sentence.doc_id for _, c in parts for q in c.quotes]),
            texts=gather([t for _, c in parts for t in c.texts]),
            contexts=gather([t for _, c in parts for t in c.contexts]),
            quotes=gather([q for _, c in parts for q in c.quotes]),
            citing=Citing.merged([c.citing for _, c in parts]),
        )

    # ---- answering -----------------------------------------------------------------------

    def ask(self, question: str, top_k: int | None = None, *, debug: bool = False) -> Answer:
        """``Engine.ask`` over the shards (hybrid retrieval; no ``debug`` traces yet)."""
        started = time.perf_counter()
        question = validate_question(question)
        found = self._retrieve(question)
        tokens, query = found.tokens, found.query
        t_features = time.perf_counter()
        pool = self._candidates(question, found)
        idf = CollectionIdf(query.df["sentence"], query.units["sentence"])
        term_idf = {t: idf_or_unseen(idf, query.units["sentence"], t) for t in set(tokens)}
        features = pool.features
        candidate_features(features, pool.rows, [frozenset(t) for t in pool.tokens], term_idf,
                           tokens)
        scores = self.model.score(features) if len(pool.rows) else np.zeros(0, np.float32)
        scores = np.asarray(scores, dtype=np.float64)
        order = sorted(range(len(pool.rows)), key=lambda i: (-float(scores[i]),
                                                             int(pool.rows[i])))
        features_ms = (time.perf_counter() - t_features) * 1e3
        t_read = time.perf_counter()
        k = top_k or self.params.top_k
        head, rest = order[: self.answer_candidates], order[self.answer_candidates :]
        readings = self.reader.score(question, [Candidate(pool.texts[i], pool.contexts[i])
                                                for i in head])
        verdict = self.judge(readings, [float(scores[i]) for i in head])
        ranked, probabilities = verdict.ranked, verdict.probabilities
        confidence, answered = verdict.confidence, verdict.answered
        t_answer = time.perf_counter()
        best = head[ranked[0]] if answered else None
        used_chunks = {int(pool.owner_chunk[best])} if best is not None else set()
        related: list[tuple[int, float]] = []
        limit = k - (1 if best is not None else 0)
        for i, probability in zip([head[j] for j in ranked] + rest,
                                  probabilities + [0.0] * len(rest), strict=True):
            if len(related) >= limit:
                break
            chunk = int(pool.owner_chunk[i])
            if chunk in used_chunks:
                continue
            used_chunks.add(chunk)
            related.append((i, probability))
        # The shards sent every candidate's citations with it: no round to them from here.
        answer = pool.answer(best, readings[ranked[0]].span, confidence) \
            if best is not None else None
        related_citations = pool.cite(related)
        conflicts: list[Citation] = []
        if answer is not None:
            others = [OtherReading(int(head[i]), p, readings[i].span,
                                   _const(pool.doc_ids[head[i]]), _const(pool.texts[head[i]]))
                      for i, p in zip(ranked[1:], probabilities[1:], strict=True)]
            conflicts = pool.cite(conflicting_rows(answer.text, answer.doc_id, answer.highlight,
                                                   others, self.abstain_below))
        citations = ([answer.citation] if answer is not None else []) + related_citations
        timings = {
            "embed": found.embed_ms, "retrieve": found.retrieve_ms, "score": features_ms,
            "read": (t_answer - t_read) * 1e3, "answer": (time.perf_counter() - t_answer) * 1e3,
            "total": (time.perf_counter() - started) * 1e3,
        }
        return Answer(
            question=question,
            answer=answer.text if answer is not None else None,
            highlight=answer.highlight if answer is not None else None,
            abstained=not answered,
            confidence=round(confidence, 4),
            citations=citations[:k],
            conflicts=conflicts,
            index_version=self.version,
            answer_model=self.reader.info.name,
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
            debug=None,
        )

    def search(self, query: str, top_k: int | None = None) -> list[SearchHit]:
        """``Engine.search`` over the shards (hybrid)."""
        query = validate_question(query)
        fused = self._retrieve(query).fused[: top_k or self.params.top_k]
        rows = np.array([hit.row for hit in fused], dtype=np.int64)
        shard, local = self.rows.to_shard("chunk", rows)
        requests: dict[int, list[int]] = {}
        for s, row in zip(shard.tolist(), local.tolist(), strict=True):
            requests.setdefault(s, []).append(row)
        found = self.shards.call("passages", {s: (r,) for s, r in requests.items()})
        taken = {s: iter(p) for s, p in found.items()}
        hits = []
        for hit, s in zip(fused, shard.tolist(), strict=True):
            passage: Passage = next(taken[s])
            hits.append(SearchHit(
                doc_id=passage.doc_id, title=passage.title, url=passage.url,
                passage=passage.text, passage_start=passage.start, passage_end=passage.end,
                score=round(hit.fused_score, 6), trace=_trace(passage.chunk_id, hit)))
        return hits


def _const(value: str) -> Any:
    return lambda: value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _trace(chunk_id: str, hit: FusedHit) -> RetrieverTrace:
    return RetrieverTrace(
        chunk_id=chunk_id, fused_rank=hit.fused_rank, fused_score=round(hit.fused_score, 6),
        dense_rank=hit.ranks.get("dense"), dense_score=_round(hit.scores.get("dense")),
        bm25_rank=hit.ranks.get("bm25"), bm25_score=_round(hit.scores.get("bm25")),
        sentence_rank=hit.ranks.get("sentence"), sentence_score=_round(hit.scores.get("sentence")),
    )


@dataclass(frozen=True)
class _Catalogue:
    documents: dict[str, DocumentTitle]
