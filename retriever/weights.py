"""The fitted scoring model: sentence-feature weights, confidence calibration and the abstention
threshold, stored as a small versioned JSON file (``retriever/weights.json``) written by
``eval/fit_weights.py``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import FEATURES

WEIGHTS_PATH = Path(__file__).with_name("weights.json")
CALIBRATION_FEATURES = (
    "top_score",
    "margin",
    "dense",
    "dense_chunk",
    "overlap",
    "overlap_window",
    "bigram",
    "type_missing",
    "uncovered_rarest",
    "unknown_mass",
    "matched_evidence",
)


@dataclass(frozen=True)
class ScoringModel:
    version: str
    feature_weights: dict[str, float]
    intercept: float
    calibration_weights: dict[str, float]
    calibration_intercept: float
    abstain_below: float  # abstain when the calibrated confidence is below this
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

    def confidence(self, calibration: dict[str, float]) -> float:
        z = self.calibration_intercept + sum(
            self.calibration_weights.get(k, 0.0) * v for k, v in calibration.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
