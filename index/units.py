"""One document's share of the index: its sentence and chunk records, then their vectors and
tokens. Segmenting is separate from embedding so that ingest can bound the time one file may take
to load and segment without counting the embedding, which grows with the text like any work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from .chunk import chunk_sentences
from .deadline import Deadline
from .embed import Encoder, ReportsProgress, encode_groups
from .lexical import join_line_hyphens, tokenize
from .records import Chunk, DocumentRecord, DocUnits, Sentence, Span
from .segment import split_sentences


@dataclass(frozen=True)
class Segmented:
    """One document's records before embedding."""

    record: DocumentRecord
    sentences: list[Sentence]
    chunks: list[Chunk]


def segment_record(
    record: DocumentRecord, skip: Sequence[Span], chunk_size: int, chunk_overlap: int,
    deadline: Deadline | None = None,
) -> Segmented:
    """The document's sentences and chunks as records."""
    text = record.text
    spans = split_sentences(text, skip, deadline)
    ranges = chunk_sentences(text, spans, chunk_size, chunk_overlap, deadline)
    owner = [0] * len(spans)
    for ordinal, (first, last) in reversed(list(enumerate(ranges))):
        for i in range(first, last):
            owner[i] = ordinal  # the first chunk that holds a sentence owns it
    sentences = [
        Sentence(
            id=f"{record.doc_id}:s{i}", doc_id=record.doc_id, ordinal=i, start=s.start,
            end=s.end, text=text[s.start : s.end], role=s.role, chunk_ordinal=owner[i],
        )
        for i, s in enumerate(spans)
    ]
    chunks = [
        Chunk(
            id=f"{record.doc_id}:c{i}", doc_id=record.doc_id, ordinal=i,
            start=spans[first].start, end=spans[last - 1].end,
            text=text[spans[first].start : spans[last - 1].end],
            first_sentence=first, last_sentence=last,
        )
        for i, (first, last) in enumerate(ranges)
    ]
    return Segmented(record, sentences, chunks)


# Told the share (0 to 1, rising) of a document's embedding work that is done.
EmbedProgress = Callable[[float], None]


def _encode(encoder: Encoder, texts: list[str], on_progress: EmbedProgress | None) -> np.ndarray:
    """``encoder.encode(texts)``, reporting progress by characters embedded (a text's cost grows
    with its length; chunks are longer than sentences)."""
    if on_progress is None:
        return encoder.encode(texts)
    if not isinstance(encoder, ReportsProgress):
        vectors = encoder.encode(texts)
        on_progress(1.0)
        return vectors
    ends = list(accumulate(len(t) for t in texts))
    total = ends[-1] if ends and ends[-1] else 1
    done = 0

    def texts_done(count: int) -> None:
        nonlocal done
        done += count
        on_progress(ends[done - 1] / total if done else 0.0)

    vectors = encoder.encode_reporting(texts, texts_done)
    on_progress(1.0)
    return vectors


def embed_units(
    segmented: Segmented, encoder: Encoder, on_progress: EmbedProgress | None = None
) -> DocUnits:
    """Vectors and tokens for a segmented document; ``on_progress`` follows the embedding."""
    return _with_vectors(segmented, _encode(encoder, model_texts(segmented), on_progress))


def embed_documents(documents: Sequence[Segmented], encoder: Encoder) -> list[DocUnits]:
    """``embed_units`` of each document, embedded together: each gets the vectors it would get
    alone (``encode_groups``)."""
    vectors = encode_groups(encoder, [model_texts(doc) for doc in documents])
    return [_with_vectors(doc, v) for doc, v in zip(documents, vectors, strict=True)]


def model_texts(segmented: Segmented) -> list[str]:
    """What one document's ``encode`` call embeds: its sentences, then its chunks, hyphenated
    line breaks joined as BM25 reads them (the text itself stays exact). A cluster's embedding
    actors embed exactly this, so the shard build finds every vector it asks for."""
    units = [s.text for s in segmented.sentences] + [c.text for c in segmented.chunks]
    return [join_line_hyphens(u) for u in units]


def _with_vectors(segmented: Segmented, vectors: np.ndarray) -> DocUnits:
    sentences, chunks = segmented.sentences, segmented.chunks
    return DocUnits(
        record=segmented.record,
        sentences=sentences,
        chunks=chunks,
        sentence_vectors=vectors[: len(sentences)],
        chunk_vectors=vectors[len(sentences) :],
        sentence_tokens=[tokenize(s.text) for s in sentences],
        chunk_tokens=[tokenize(c.text) for c in chunks],
    )
