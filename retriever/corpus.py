"""Lookups over a loaded index version, computed once when the engine starts.

Rows are positions in the snapshot's sentence and chunk lists (documents sorted by id, units by
ordinal), so a document's sentences are contiguous and a chunk's sentences are a row range.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from index.records import DocumentRecord
from index.store import IndexSnapshot
from index.titles import name_title

from .language.en import Mention, Quantity, mentions, quantities

CONTEXT_TITLE_WORDS = 12


@dataclass(frozen=True)
class Corpus:
    snapshot: IndexSnapshot
    documents: dict[str, DocumentRecord]
    sentence_base: dict[str, int]  # doc_id -> row of its first sentence
    chunk_first_row: np.ndarray  # chunk row -> first sentence row
    chunk_last_row: np.ndarray  # chunk row -> one past its last sentence row
    owner_chunk: np.ndarray  # sentence row -> owning chunk row
    sentence_token_sets: list[frozenset[str]]
    sentence_bigrams: list[frozenset[tuple[str, str]]]
    idf: dict[str, float]
    answerable: np.ndarray  # sentence row -> may it be an answer (a question or heading never)
    # Typed mentions per sentence row, found on first use: the regexes are the costliest part of
    # scoring a candidate, and popular sentences are candidates for many questions.
    _mentions: dict[int, list[Mention]] = field(default_factory=dict, repr=False, compare=False)
    _quantities: dict[int, list[Quantity]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_snapshot(cls, snapshot: IndexSnapshot) -> Corpus:
        content = snapshot.content
        base: dict[str, int] = {}
        for row, sentence in enumerate(content.sentences):
            base.setdefault(sentence.doc_id, row)
        chunk_base: dict[str, int] = {}
        for row, chunk in enumerate(content.chunks):
            chunk_base.setdefault(chunk.doc_id, row)
        first = np.array([base[c.doc_id] + c.first_sentence for c in content.chunks], np.int64)
        last = np.array([base[c.doc_id] + c.last_sentence for c in content.chunks], np.int64)
        owner = np.array(
            [chunk_base[s.doc_id] + s.chunk_ordinal for s in content.sentences], np.int64
        )
        token_sets = [frozenset(tokens) for tokens in content.sentence_tokens]
        bigrams = [frozenset(zip(t, t[1:], strict=False)) for t in content.sentence_tokens]
        df: Counter[str] = Counter()
        for tokens in token_sets:
            df.update(tokens)
        n = max(len(token_sets), 1)
        idf = {t: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        answerable = np.array(
            [
                s.role != "heading" and not s.text.rstrip("’”\"') ").endswith("?")
                for s in content.sentences
            ],
            dtype=bool,
        )
        return cls(
            snapshot=snapshot,
            answerable=answerable,
            documents={d.doc_id: d for d in content.documents},
            sentence_base=base,
            chunk_first_row=first,
            chunk_last_row=last,
            owner_chunk=owner,
            sentence_token_sets=token_sets,
            sentence_bigrams=bigrams,
            idf=idf,
        )

    def sentence_mentions(self, row: int) -> list[Mention]:
        found = self._mentions.get(row)
        if found is None:
            found = self._mentions[row] = mentions(self.snapshot.content.sentences[row].text)
        return found

    def sentence_quantities(self, row: int) -> list[Quantity]:
        # Conflict checks scan the answer's whole document: parse each sentence once per engine.
        found = self._quantities.get(row)
        if found is None:
            found = self._quantities[row] = quantities(self.snapshot.content.sentences[row].text)
        return found

    def same_document(self, row: int, other: int) -> bool:
        """Is ``other`` a sentence row of the same document as ``row``?"""
        sentences = self.snapshot.content.sentences
        return 0 <= other < len(sentences) and sentences[other].doc_id == sentences[row].doc_id

    def neighbours(self, row: int) -> list[int]:
        """The sentences just before and after ``row`` in its document."""
        return [nb for nb in (row - 1, row + 1) if self.same_document(row, nb)]

    def sentence_text(self, row: int) -> str:
        return self.snapshot.content.sentences[row].text

    def context_of(self, row: int) -> str:
        """What a reader needs beside a sentence to read it: the document title and the
        sentence before it (the answer model sees this next to every candidate)."""
        sentence = self.snapshot.content.sentences[row]
        # A title longer than a heading is usually a clipped first sentence: keep its start.
        title = " ".join(self._context_title(sentence.doc_id).split()[:CONTEXT_TITLE_WORDS])
        before = self.snapshot.content.sentences[row - 1].text if row > 0 else ""
        previous = before if self.same_document(row, row - 1) else ""
        return f"{title}. {previous}".strip() if title else previous

    def _context_title(self, doc_id: str) -> str:
        """The document's title, or its opening sentence when the title is only its file name
        in words: a name says little about the content, and the answer model learnt to read
        titles that are real titles or openings."""
        title = self.documents[doc_id].title
        if title != name_title(doc_id.rsplit("/", 1)[-1]):
            return title
        first = self.sentence_base.get(doc_id)
        sentences = self.snapshot.content.sentences
        return sentences[first].text if first is not None and first < len(sentences) else title

    def idf_of(self, token: str) -> float:
        # An unseen token is as rare as a token can be.
        return self.idf.get(token, math.log(1.0 + (len(self.sentence_token_sets) + 0.5) / 0.5))

    def sentence_row(self, doc_id: str, ordinal: int) -> int:
        return self.sentence_base[doc_id] + ordinal
