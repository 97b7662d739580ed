"""One shard of a sharded index, searched for the coordinator: retrieval, and candidates with
their features and citations, over its own version, with BM25 and IDF from the collection's
statistics. The same class serves in-process (``ShardedEngine`` over local shards) and inside a
Ray Serve replica."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.records import DocumentRecord
from index.store import IndexSnapshot, load_snapshot
from retriever.compose import answer_span, place, sentence_span
from retriever.corpus import Corpus
from retriever.features import row_features
from retriever.fusion import RankedList, best_per_group, fuse, top_k
from retriever.language.en import question_type

from .collection_bm25 import TermPostings, bm25_idf
from .protocol import (
    CandidateRequest,
    Citing,
    Passage,
    PassageKey,
    Quote,
    Ranked,
    ShardCandidates,
    ShardHits,
    ShardSummary,
    Speculation,
    passage_key,
)
from .shard_set import ShardEntry, check_shard_version
from .stats import KINDS, QueryStats, ShardStats


class ShardSearcher:
    def __init__(self, name: str, snapshot: IndexSnapshot) -> None:
        self.name = name
        self.snapshot = snapshot
        self.corpus = Corpus.from_snapshot(snapshot)
        arrays = snapshot.arrays
        vocabulary = len(arrays.vocabulary)
        self._postings = {
            "sentence": TermPostings.from_token_ids(
                arrays.sentence_token_ids, arrays.sentence_token_offsets, vocabulary),
            "chunk": TermPostings.from_token_ids(
                arrays.chunk_token_ids, arrays.chunk_token_offsets, vocabulary),
        }
        settings = snapshot.manifest["settings"]
        self._k1, self._b = float(settings["bm25_k1"]), float(settings["bm25_b"])

    @classmethod
    def open(cls, index_dir: Path, entry: ShardEntry) -> ShardSearcher:
        """The version ``entry`` names, checked against the shard set's checksum."""
        check_shard_version(index_dir, entry)
        assert entry.version is not None  # check_shard_version refuses an empty shard
        return cls(entry.name, load_snapshot(index_dir / entry.name, entry.version))

    def close(self) -> None:
        self.snapshot.close()

    def summary(self) -> ShardSummary:
        documents = self.snapshot.arrays.documents
        tokens = tuple(self.snapshot.arrays.vocabulary.tokens)
        stats = ShardStats(
            tokens=tokens,
            df={kind: self._postings[kind].df() for kind in KINDS},
            units={kind: len(self._postings[kind].lengths) for kind in KINDS},
            length_sum={kind: int(self._postings[kind].lengths.sum()) for kind in KINDS},
        )
        return ShardSummary(
            name=self.name, version=self.snapshot.version,
            doc_ids=tuple(d.doc_id for d in self.snapshot.content.documents),
            titles=tuple(d.title for d in self.snapshot.content.documents),
            doc_sentences=np.asarray(documents["sentences"], dtype=np.int64),
            doc_chunks=np.asarray(documents["chunks"], dtype=np.int64),
            stats=stats, manifest={k: v for k, v in self.snapshot.manifest.items()
                                   if k not in ("documents", "files")},
        )

    # ---- one question ---------------------------------------------------------------------

    def bm25_scores(self, kind: str, tokens: tuple[str, ...], query: QueryStats) -> np.ndarray:
        """Every unit's BM25 score (``kind``: sentence or chunk) with the collection's
        statistics."""
        ids = self.snapshot.arrays.vocabulary.ids
        known = [t for t in tokens if t in ids]  # bm25s drops tokens it does not know
        idf = [bm25_idf(query.units[kind], query.df[kind].get(t, 0)) for t in known]
        return self._postings[kind].scores([ids[t] for t in known], idf, query.average(kind),
                                           self._k1, self._b)

    def retrieve(self, vector: np.ndarray, tokens: tuple[str, ...], query: QueryStats,
                 depth: int, speculate: Speculation | None = None) -> ShardHits:
        """The shard's best ``depth`` units of each retriever (ties by row, as one index), the
        sentence rows of every chunk named, and with ``speculate`` the candidates it would
        contribute were its own best the collection's."""
        snap, corpus = self.snapshot, self.corpus
        c_scores, c_ids = snap.chunk_dense.search(vector, depth)
        s_scores, s_ids = snap.sentence_dense.search(vector, depth)
        lexical = top_k(self.bm25_scores("chunk", tokens, query), depth)
        dense = RankedList(c_ids.astype(np.int64), c_scores)
        sentences = RankedList(s_ids.astype(np.int64), s_scores)
        owners = np.asarray(corpus.owner_chunk[s_ids], dtype=np.int64)
        named = {*dense.ids.tolist(), *lexical.ids.tolist(), *owners.tolist()}
        considered: frozenset[int] = frozenset()
        speculated = None
        if speculate is not None:
            fusion = speculate.fusion
            fused = fuse({"dense": dense, "sentence": best_per_group(sentences, corpus.owner_chunk),
                          "bm25": lexical},
                         {"dense": fusion.dense_weight, "bm25": fusion.bm25_weight,
                          "sentence": fusion.sentence_weight}, fusion.rrf_k)
            rows = set(sentences.ids[: speculate.candidate_sentences].tolist())
            for hit in fused[: speculate.candidate_chunks]:
                rows.update(range(corpus.chunk_first_row[hit.row], corpus.chunk_last_row[hit.row]))
            considered = frozenset(rows)
            speculated = self._candidates(rows, speculate.question, vector, tokens, query)
        return ShardHits(
            chunk_dense=Ranked(dense.ids, dense.scores),
            sentence_dense=Ranked(sentences.ids, sentences.scores),
            sentence_owner=owners,
            chunk_bm25=Ranked(lexical.ids, lexical.scores),
            chunk_sentences={c: (int(corpus.chunk_first_row[c]), int(corpus.chunk_last_row[c]))
                             for c in named},
            considered=considered, speculated=speculated,
        )

    def candidates(self, request: CandidateRequest) -> ShardCandidates:
        """The answerable ones among the requested sentences, with their per-row features
        (``retriever.features.row_features``; ``chunk_rrf`` is the coordinator's to fill)."""
        return self._candidates(set(request.sentence_rows), request.question, request.vector,
                                request.tokens, request.query)

    def _candidates(self, rows: set[int], question: str, vector: np.ndarray,
                    tokens: tuple[str, ...], query: QueryStats) -> ShardCandidates:
        corpus = self.corpus
        ordered = np.array(sorted(rows), dtype=np.int64)
        ordered = ordered[corpus.answerable[ordered]] if len(ordered) else ordered
        scoped = corpus.with_collection_idf(query.df["sentence"], query.units["sentence"])
        sentence_bm25 = self.bm25_scores("sentence", tokens, query)
        features = row_features(scoped, ordered, question, vector, list(tokens),
                                question_type(question), sentence_bm25, {})
        listed = ordered.tolist()
        quotes, citing = self._quotes(listed)
        return ShardCandidates(
            rows=ordered, features=features,
            tokens=tuple(tuple(corpus.snapshot.content.sentence_tokens[r]) for r in listed),
            owner_chunk=np.asarray(corpus.owner_chunk[ordered], dtype=np.int64),
            texts=tuple(corpus.sentence_text(r) for r in listed),
            contexts=tuple(corpus.context_of(r) for r in listed),
            quotes=quotes, citing=citing,
        )

    def _quotes(self, rows: list[int]) -> tuple[tuple[Quote, ...], Citing]:
        """Each row's ``Quote``, and its documents' titles and its passages, each once
        (neighbouring candidates share their chunk's)."""
        corpus = self.corpus
        quotes: list[Quote] = []
        links: dict[str, tuple[str, str | None]] = {}
        passages: dict[PassageKey, str] = {}
        for row in rows:
            span = answer_span(corpus, row)
            own = span if span.last_row == span.first_row == row else sentence_span(
                corpus, row, row)
            sentence = place(corpus, own)
            answer = sentence if span == own else place(corpus, span)
            doc = corpus.documents[own.doc_id]
            links[doc.doc_id] = (doc.title, doc.url)
            for placement in {sentence, answer}:
                passages[passage_key(placement)] = doc.text[
                    placement.passage_start : placement.passage_end]
            quotes.append(Quote(sentence, answer, own.start - span.start))
        return tuple(quotes), Citing(links, passages)

    def passages(self, rows: list[int]) -> list[Passage]:
        """Chunks as search returns them, with their documents' titles and links."""
        out = []
        for row in rows:
            chunk = self.snapshot.content.chunks[row]
            doc = self.corpus.documents[chunk.doc_id]
            out.append(Passage(chunk.id, doc.doc_id, doc.title, doc.url, chunk.text, chunk.start,
                               chunk.end))
        return out

    def document(self, doc_id: str) -> DocumentRecord | None:
        return self.corpus.documents.get(doc_id)
