"""The text steps of the peers benchmark's peer pipelines: a tokenizer for LangChain's BM25 that
lower-cases and drops punctuation, and how a peer picks the one sentence it answers with.

Pure functions over plain strings and vectors, so they are tested without any peer installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from index.segment import split_sentences

# Texts in, one embedding row per text out (a peer's own embedding call).
Embed = Callable[[list[str]], np.ndarray]

_WORD = re.compile(r"\w+")


def plain_words(text: str) -> list[str]:
    """Lower-cased word tokens with punctuation dropped, so "Denver?" and "denver" are one term
    (LangChain's BM25Retriever default, ``str.split``, keeps case and punctuation)."""
    return _WORD.findall(text.lower())


def passage_sentences(passage: str) -> list[str]:
    """The passage's sentences as citeqa's own segmenter cuts them, headings left out (citeqa
    never answers with a heading alone), so both sides choose among the same kind of unit."""
    return [passage[s.start:s.end] for s in split_sentences(passage) if s.role != "heading"]


def best_sentence(question: str, sentences: Sequence[str], embed: Embed) -> str | None:
    """The sentence most similar to the question by cosine under ``embed`` (the first of equals);
    None when there is no sentence. Question and sentences go in one batch."""
    if not sentences:
        return None
    vectors = np.asarray(embed([question, *sentences]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0.0, 1.0, norms)
    scores = unit[1:] @ unit[0]
    return sentences[int(np.argmax(scores))]
