"""The pre-ranker: sentence-feature weights that order each question's candidates so the answer
model reads only the best few, stored as a small versioned JSON file (``retriever/weights.json``)
written by ``eval/train_answer/prerank.py``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import FEATURES

WEIGHTS_PATH = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class ScoringModel:
    version: str
    feature_weights: dict[str, float]
    intercept: float
    fitted_on: str = ""

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> ScoringModel:
        data = json.loads(path.read_text())
        unknown = set(data["feature_weights"]) - set(FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown features {sorted(unknown)}")
        return cls(**data)

    def save(self, path: Path = WEIGHTS_PATH) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")

    def vector(self) -> np.ndarray:
        return np.array([self.feature_weights.get(f, 0.0) for f in FEATURES], dtype=np.float32)

    def score(self, features: np.ndarray) -> np.ndarray:
        return features @ self.vector() + np.float32(self.intercept)
