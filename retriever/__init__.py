"""The retriever's public API: what the layers above (eval's training and benchmarks) may use.

Everything else in the package is internal and free to change; tests/test_layering.py keeps eval
to these names.
"""

from .answer_model import (
    DESCRIPTION,
    MODEL_DIR,
    AnswerModel,
    Calibration,
    Candidate,
    Margins,
    Scored,
    encode_pairs,
    file_sha256,
    fitted_with,
)
from .corpus import Corpus
from .engine import Engine
from .features import FEATURES
from .language.en import content_terms
from .weights import WEIGHTS_PATH, ScoringModel

__all__ = [
    "DESCRIPTION",
    "FEATURES",
    "MODEL_DIR",
    "WEIGHTS_PATH",
    "AnswerModel",
    "Calibration",
    "Candidate",
    "Corpus",
    "Engine",
    "Margins",
    "Scored",
    "ScoringModel",
    "content_terms",
    "encode_pairs",
    "file_sha256",
    "fitted_with",
]
