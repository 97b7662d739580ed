"""What a shard and the coordinator exchange for one question (plain frozen records; Ray
serializes them between processes). Rows are the shard's own (its sentence and chunk tables);
the coordinator maps them to the collection's rows (``rows.RowSpace``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from retriever.compose import Placement, cite, highlight_at
from retriever.fusion import FusionParams
from retriever.schema import Citation, Highlight

from .stats import QueryStats, ShardStats


@dataclass(frozen=True)
class ShardSummary:
    """A shard as the coordinator needs it at start: its version, its documents in row order
    with their unit counts, and its statistics."""

    name: str
    version: str
    doc_ids: tuple[str, ...]
    titles: tuple[str, ...]
    doc_sentences: np.ndarray  # int64 per document
    doc_chunks: np.ndarray
    stats: ShardStats
    manifest: dict[str, Any]  # its manifest less the per-document and per-file lists


@dataclass(frozen=True)
class Ranked:
    """One retriever's best units in the shard: rows and raw scores, best first."""

    rows: np.ndarray  # int64
    scores: np.ndarray  # float32


@dataclass(frozen=True)
class Speculation:
    """Ask a shard to send, with its rankings, the candidates it would contribute if its own
    best chunks and sentences were the collection's: the coordinator then needs no second
    round unless the collection's best include a row the shard did not consider."""

    question: str
    candidate_chunks: int
    candidate_sentences: int
    fusion: FusionParams


@dataclass(frozen=True)
class ShardHits:
    chunk_dense: Ranked
    sentence_dense: Ranked
    sentence_owner: np.ndarray  # owning chunk row of each sentence_dense row
    chunk_bm25: Ranked
    chunk_sentences: dict[int, tuple[int, int]]  # sentence rows [first, last) of every chunk named
    considered: frozenset[int] = frozenset()  # rows the speculation looked at (answerable or not)
    speculated: ShardCandidates | None = None  # the answerable ones among them


@dataclass(frozen=True)
class CandidateRequest:
    question: str
    vector: np.ndarray
    tokens: tuple[str, ...]
    query: QueryStats
    sentence_rows: tuple[int, ...]  # the shard's candidate sentences (answerable or not)


PassageKey = tuple[str, int, int]  # doc_id, passage_start, passage_end


@dataclass(frozen=True)
class Quote:
    """A candidate placed in its document by the shard that holds it, so that the coordinator
    can make the answer and its citations without another round: the sentence's own placement
    and the answer's (the same unless the sentence is a lead-in that takes its list), and where
    the sentence starts in the answer's quote. Titles, links and passages' text come once per
    reply (``Citing``)."""

    sentence: Placement
    answer: Placement
    shift: int


@dataclass(frozen=True)
class Citing:
    """What the quotes of one reply (or of several, merged) need to become citations."""

    links: dict[str, tuple[str, str | None]]  # doc_id -> title, url
    passages: dict[PassageKey, str]

    @staticmethod
    def merged(parts: list[Citing]) -> Citing:
        return Citing({k: v for p in parts for k, v in p.links.items()},
                      {k: v for p in parts for k, v in p.passages.items()})

    def cite(self, placement: Placement, score: float) -> Citation:
        """The citation ``retriever.compose.citation_for`` makes of the same quote."""
        title, url = self.links[placement.doc_id]
        return cite(placement, title, url, self.passages[passage_key(placement)], score)

    def answer(self, quote: Quote, reader_span: tuple[int, int] | None,
               confidence: float) -> AnswerPart:
        """The answer made of ``quote``'s candidate, as the one-process engine makes it."""
        placement = quote.answer
        return AnswerPart(placement.quote, placement.doc_id,
                          highlight_at(quote.shift, len(placement.quote), reader_span),
                          self.cite(placement, confidence))


def passage_key(placement: Placement) -> PassageKey:
    return placement.doc_id, placement.passage_start, placement.passage_end


@dataclass(frozen=True)
class ShardCandidates:
    """The shard's answerable candidate sentences (rows ascending) with what the answer stage
    needs of each: its per-row features (``retriever.features.row_features``), its tokens
    (for the features that compare candidates), owning chunk, text, the context
    the answer model reads beside it, and its citations (``Quote``, which also name its
    document)."""

    rows: np.ndarray
    features: np.ndarray
    tokens: tuple[tuple[str, ...], ...]
    owner_chunk: np.ndarray
    texts: tuple[str, ...]
    contexts: tuple[str, ...]
    quotes: tuple[Quote, ...]  # each candidate's document is its quotes'
    citing: Citing

    def subset(self, rows: set[int]) -> ShardCandidates:
        """The candidates among ``rows``, in the same order."""
        keep = [i for i, row in enumerate(self.rows.tolist()) if row in rows]
        return ShardCandidates(
            rows=self.rows[keep], features=self.features[keep],
            tokens=tuple(self.tokens[i] for i in keep), owner_chunk=self.owner_chunk[keep],
            texts=tuple(self.texts[i] for i in keep),
            contexts=tuple(self.contexts[i] for i in keep),
            quotes=tuple(self.quotes[i] for i in keep), citing=self.citing)


@dataclass(frozen=True)
class AnswerPart:
    """The chosen sentence made into the answer (``retriever.compose``)."""

    text: str
    doc_id: str
    highlight: Highlight | None
    citation: Citation


@dataclass(frozen=True)
class Passage:
    """A chunk as search shows it."""

    chunk_id: str
    doc_id: str
    title: str
    url: str | None
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class DocumentTitle:
    doc_id: str
    title: str
