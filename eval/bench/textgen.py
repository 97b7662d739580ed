"""Generated text for BM25 scale benchmarks: a word bigram model of a real corpus.

Sentences are sampled word by word from the bigram counts of the real sentences (a sentence
ends where the real ones end), so the vocabulary, word frequencies and sentence lengths follow
the real text while the collection can grow to millions of sentences. Sampling is vectorised
over all sentences at once: one numpy step per word position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.lexical import words

_END = 0  # vocabulary id 0 marks both "before the first word" and "after the last word"
MAX_WORDS = 64  # generated sentences are cut here (bounds the id grid; real ones rarely exceed it)
BLOCK = 100_000  # sentences sampled at a time


@dataclass(frozen=True)
class BigramModel:
    vocab: tuple[str, ...]  # vocab[0] is the boundary marker
    starts: np.ndarray  # successors of word w are successors[starts[w]:starts[w] + counts[w]]
    counts: np.ndarray
    successors: np.ndarray  # one entry per observed bigram occurrence
    max_words: int

    @classmethod
    def fit(cls, texts: list[str]) -> BigramModel:
        ids: dict[str, int] = {"": _END}
        pairs: list[tuple[int, int]] = []
        longest = 1
        for text in texts:
            seq = [ids.setdefault(w, len(ids)) for w in words(text)]
            if not seq:
                continue
            longest = max(longest, len(seq))
            chain = [_END, *seq, _END]
            pairs.extend(zip(chain[:-1], chain[1:], strict=False))
        if not pairs:
            raise ValueError("no words to learn a bigram model from")
        table = np.array(sorted(pairs), dtype=np.int64)
        counts = np.bincount(table[:, 0], minlength=len(ids))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        vocab = tuple(sorted(ids, key=ids.__getitem__))
        return cls(vocab, starts, counts, table[:, 1].copy(), min(longest, MAX_WORDS))

    def generate(self, n: int, *, seed: int = 0) -> list[str]:
        """``n`` generated sentences (space-joined words)."""
        rng = np.random.default_rng(seed)
        vocab = np.array(self.vocab, dtype=object)
        out: list[str] = []
        for start in range(0, n, BLOCK):
            grid = self._sample_ids(min(BLOCK, n - start), rng)
            lengths = (grid != _END).sum(axis=1)  # words are never _END before the end
            out.extend(" ".join(vocab[row[:size]]) for row, size in zip(grid, lengths, strict=True))
        return out

    def _sample_ids(self, n: int, rng: np.random.Generator) -> np.ndarray:
        current = np.full(n, _END, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        grid = np.zeros((n, self.max_words), dtype=np.int32)
        for column in range(self.max_words):
            pick = self.starts[current] + (rng.random(n) * self.counts[current]).astype(np.int64)
            current = np.where(alive, self.successors[pick], _END)
            alive &= current != _END
            grid[:, column] = current
            if not alive.any():
                break
        return grid
