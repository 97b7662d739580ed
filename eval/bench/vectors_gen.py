"""Synthetic embedding collections for scale benchmarks, grown from real MiniLM vectors.

Embedding a million texts with the real model is far too slow for a benchmark, and uniformly
random unit vectors are an unrealistically hard case for approximate search (no neighbourhood
structure). So a collection of n vectors is: every real vector first, then synthetic ones, each
a convex mixture of two real vectors (weight >= MIN_WEIGHT on the first, its "anchor") plus
Gaussian noise shaped by the real vectors' covariance, renormalised. With the defaults, a
synthetic vector stays close to its anchor, and nearest-neighbour similarities resemble those
of the real collection (the scale benchmark reports both).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

NOISE = 0.5
MIN_WEIGHT = 0.5
BLOCK = 65_536  # rows generated at a time (bounds the temporary arrays)


@dataclass(frozen=True)
class MixtureModel:
    """What synthesis needs from the real vectors: the vectors and a covariance square root."""

    real: np.ndarray  # (m, dim) float32, L2-normalised
    noise_basis: np.ndarray  # (dim, dim) float32, noise = N(0, I) @ noise_basis.T ~ N(0, cov)

    @classmethod
    def fit(cls, real: np.ndarray) -> MixtureModel:
        real = np.ascontiguousarray(real, dtype=np.float32)
        if real.ndim != 2 or len(real) < 2:
            raise ValueError("need at least two real vectors to synthesise from")
        values, vectors = np.linalg.eigh(np.cov(real.T).astype(np.float64))
        basis = vectors * np.sqrt(np.clip(values, 0.0, None))
        return cls(real, basis.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.real.shape[1])

    def sample(
        self, n: int, rng: np.random.Generator, noise: float = NOISE,
        min_weight: float = MIN_WEIGHT,
    ) -> np.ndarray:
        """``n`` synthetic unit vectors (float32)."""
        m = len(self.real)
        anchor = self.real[rng.integers(m, size=n)]
        other = self.real[rng.integers(m, size=n)]
        weight = rng.uniform(min_weight, 1.0, size=(n, 1)).astype(np.float32)
        gauss = rng.standard_normal((n, self.dim), dtype=np.float32) @ self.noise_basis.T
        out = weight * anchor + (1.0 - weight) * other + noise * gauss
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def synthesize(real: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """An (n, dim) float32 collection: the real vectors (up to n of them), then synthetic ones."""
    model = MixtureModel.fit(real)
    out = np.empty((n, model.dim), dtype=np.float32)
    kept = min(n, len(model.real))
    out[:kept] = model.real[:kept]
    rng = np.random.default_rng(seed)
    for start in range(kept, n, BLOCK):
        stop = min(n, start + BLOCK)
        out[start:stop] = model.sample(stop - start, rng)
    return out


def perturbed_queries(real: np.ndarray, n: int, *, seed: int = 1) -> np.ndarray:
    """Query vectors without a model: fresh synthetic vectors from another seed (used by tests and
    when the model is not wanted; the benchmark itself encodes real questions)."""
    return MixtureModel.fit(real).sample(n, np.random.default_rng(seed))


def collection_block(model: MixtureModel, n: int, start: int, stop: int, *, seed: int = 0,
                     block: int = BLOCK) -> np.ndarray:
    """Rows [start, stop) of an n-row collection that is generated block by block: the real vectors
    first, then synthetic rows, every ``block``-row slice of the collection drawn from its own
    random stream (seed, slice number). Any row range is therefore reproducible on its own, so a
    collection too large for memory can be streamed twice and agree with itself. (A different
    collection from ``synthesize``'s, which draws every row from one sequential stream.)"""
    if not 0 <= start <= stop <= n:
        raise ValueError(f"row range [{start}, {stop}) is not within a collection of {n}")
    out = np.empty((stop - start, model.dim), dtype=np.float32)
    real = len(model.real)
    for first in range(start - start % block, stop, block):
        rows = model.sample(block, np.random.default_rng([seed, first // block]))
        kept = np.arange(first, first + block) < real
        rows[kept] = model.real[first:first + int(kept.sum())]
        lo, hi = max(start, first), min(stop, first + block)
        out[lo - start:hi - start] = rows[lo - first:hi - first]
    return out


def iter_collection(model: MixtureModel, n: int, *, seed: int = 0,
                    block: int = BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of ``collection_block``'s n-row collection, one block at a time."""
    for start in range(0, n, block):
        yield start, collection_block(model, n, start, min(n, start + block), seed=seed,
                                      block=block)
