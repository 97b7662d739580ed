"""The fake at the model seam: a deterministic, model-free ``Encoder`` for fast tests.

Production code never names it. Tests hand it to the library directly (``ingest``, ``Engine``),
to the app through an engine loader, or to the command line through ``tests/fake_citeqa.py``.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from index.embed import ModelIdentity, TextsDone, normalise

FAKE_NAME = "hashing-test-encoder"
_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Bag of words and character trigrams hashed into a small space: fast, deterministic, and
    similar texts get similar vectors."""

    def __init__(self, dim: int = 64, name: str = FAKE_NAME, seed: int = 0) -> None:
        # ``seed`` changes the hashing but not the identity: a stand-in for a different model that
        # reports the same name, weights hash and dimension (what the manifest probes must catch).
        self.identity = ModelIdentity(name=name, weights_sha256=f"hashing-{dim}", dim=dim)
        self._salt = seed.to_bytes(8, "little")

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in _TOKEN.findall(text)]
        grams = [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        return self.encode_reporting(texts, lambda _: None)

    def encode_reporting(self, texts: list[str], on_done: TextsDone) -> np.ndarray:
        dim = self.identity.dim
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8, salt=self._salt).digest()
                h = int.from_bytes(digest, "big")
                out[row, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
            on_done(1)
        return normalise(out)

