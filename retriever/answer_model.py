"""The answer model: a cross-encoder that reads (question, candidate sentence + its context) and
says how likely the sentence answers the question, and where in it the answer sits.

It was fine-tuned here from the bundled all-MiniLM-L6-v2 weights (``eval/train_answer``) and runs
on ONNX Runtime in one batched call per question. This module owns the model file: it verifies
its sha256 against the model's own description (``answer_model.json``) before loading, encodes
inputs exactly as training did (``encode_pairs`` is shared with the training code), and decodes
the answer probability and the highlight span of every candidate.

Input layout per candidate (token type 0, then 1)::

    [CLS] question [SEP] sentence [SEP] context [SEP]

``context`` is the document title and the sentence before (what a reader needs to resolve "he" or
"the treaty"); it is truncated first, then the sentence, never the question's first tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.manifest import sha256_file

MODEL_DIR = Path(__file__).with_name("models") / "answer"
DESCRIPTION = "answer_model.json"
MAX_QUESTION_TOKENS = 40
MAX_SPAN_TOKENS = 30  # longest highlight, in word pieces


class AnswerModelError(RuntimeError):
    """The answer model cannot be used (missing, corrupted, or fitted for another index)."""


@dataclass(frozen=True)
class Candidate:
    """One sentence put to the model: its text and the context shown beside it."""

    sentence: str
    context: str


@dataclass(frozen=True)
class EncodedBatch:
    input_ids: np.ndarray  # (B, T) int64
    attention_mask: np.ndarray  # (B, T) int64
    token_type_ids: np.ndarray  # (B, T) int64
    sentence_first: np.ndarray  # (B,) position of the sentence's first token
    sentence_offsets: list[list[tuple[int, int]]]  # per row: char span of each sentence token


@dataclass(frozen=True)
class Scored:
    """The model's reading of one candidate."""

    logit: float  # answer logit (before calibration)
    span: tuple[int, int] | None  # highlight, character offsets into the sentence
    # the answerability head's logit (models with one): is the question answered here at all?
    answerable: float | None = None


def _piece(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer.encode(text, add_special_tokens=False)
    return list(enc.ids), [tuple(o) for o in enc.offsets]


def encode_pairs(
    tokenizer: Any, question: str, candidates: Sequence[Candidate], max_length: int
) -> EncodedBatch:
    """Token ids for each candidate, padded to the longest row (the training code calls this
    too, so serving sees exactly what the model learnt from). ``tokenizer`` is a
    ``tokenizers.Tokenizer`` with padding and truncation off."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    q_ids = _piece(tokenizer, question)[0][:MAX_QUESTION_TOKENS]
    head = [cls_id, *q_ids, sep_id]
    rows: list[list[int]] = []
    types: list[list[int]] = []
    firsts: list[int] = []
    offsets: list[list[tuple[int, int]]] = []
    for cand in candidates:
        budget = max_length - len(head) - 2  # two more [SEP]
        s_ids, s_off = _piece(tokenizer, cand.sentence)
        s_ids, s_off = s_ids[: max(budget, 1)], s_off[: max(budget, 1)]
        c_ids = _piece(tokenizer, cand.context)[0][: max(budget - len(s_ids), 0)]
        tail = [*s_ids, sep_id, *c_ids, sep_id]
        rows.append(head + tail)
        types.append([0] * len(head) + [1] * len(tail))
        firsts.append(len(head))
        offsets.append(s_off)
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    type_ids = np.zeros((len(rows), width), dtype=np.int64)
    for i, (row, kinds) in enumerate(zip(rows, types, strict=True)):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        type_ids[i, : len(row)] = kinds
    return EncodedBatch(ids, mask, type_ids, np.array(firsts, dtype=np.int64), offsets)


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, first: int, n_tokens: int
) -> tuple[int, int] | None:
    """The (first, last) sentence-token pair maximising start + end logits, last >= first and
    at most MAX_SPAN_TOKENS long; token indices relative to the sentence."""
    if n_tokens <= 0:
        return None
    s = start_logits[first : first + n_tokens]
    e = end_logits[first : first + n_tokens]
    total = s[:, None] + e[None, :]
    i, j = np.indices(total.shape)
    total = np.where((j >= i) & (j - i < MAX_SPAN_TOKENS), total, -np.inf)
    flat = int(np.argmax(total))
    return flat // n_tokens, flat % n_tokens


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the best candidate's logit: confidence = sigmoid(a * logit + b)."""

    a: float
    b: float

    def __call__(self, logit: float) -> float:
        z = max(-50.0, min(50.0, self.a * logit + self.b))
        return float(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True)
class Margins:
    """For a model with an answerability head: a candidate counts as answering only when its
    combined score clears ``reader`` and its answerability logit clears ``answerable`` (both
    fitted on dev). As one score, the smaller margin: confidence is calibrated from it, and 0 is
    the fitted boundary."""

    reader: float
    answerable: float

    def decision(self, combined: float, answerable: float) -> float:
        return min(combined - self.reader, answerable - self.answerable)

    def to_json(self) -> dict[str, float | None]:
        """As ``answer_model.json`` holds them: null for a score that refuses nothing (-inf)."""
        return {k: v if np.isfinite(v) else None
                for k, v in (("reader", self.reader), ("answerable", self.answerable))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Margins:
        return cls(*(-np.inf if data[k] is None else float(data[k])
                     for k in ("reader", "answerable")))


@dataclass(frozen=True)
class AnswerModelInfo:
    """What ``answer_model.json`` says about the model file beside it."""

    name: str
    file: str
    sha256: str
    max_length: int
    candidates: int  # N: how many pre-ranked sentences the model reads per question
    calibration: Calibration
    abstain_below: float  # default threshold on the calibrated confidence
    fitted_with: dict[str, str]  # retrieval encoder and pre-ranker the candidates came from
    # How much the pre-ranker's score adds to the reader's logit (fitted on dev; 0: reader only).
    prerank_weight: float = 0.0
    # With an answerability head: where its logit joins the decision (None: the combined score
    # alone decides).
    margins: Margins | None = None

    def combine(self, logit: float, prerank_score: float) -> float:
        """The score candidates are ranked by."""
        return logit + self.prerank_weight * prerank_score

    def decision(self, combined: float, scored: Scored) -> float:
        """The score confidence is calibrated from: the combined score, or with margins the
        smaller of its margin and the answerability logit's."""
        if self.margins is None:
            return combined
        if scored.answerable is None:
            raise AnswerModelError(f"answer model {self.name} gave no answerability logit")
        return self.margins.decision(combined, scored.answerable)

    @classmethod
    def read(cls, directory: Path) -> AnswerModelInfo:
        path = directory / DESCRIPTION
        if not path.is_file():
            raise AnswerModelError(f"no answer model at {directory} ({DESCRIPTION} missing)")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            name=str(data["name"]),
            file=str(data["file"]),
            sha256=str(data["sha256"]),
            max_length=int(data["max_length"]),
            candidates=int(data["candidates"]),
            calibration=Calibration(**data["calibration"]),
            abstain_below=float(data["abstain_below"]),
            fitted_with={str(k): str(v) for k, v in data["fitted_with"].items()},
            prerank_weight=float(data.get("prerank_weight", 0.0)),
            margins=Margins.from_json(data["margins"]) if data.get("margins") else None,
        )


class Reader(Protocol):
    """What the engine needs from an answer model (the real one, or a test double)."""

    info: AnswerModelInfo

    def score(self, question: str, candidates: Sequence[Candidate]) -> list[Scored]: ...


def fitted_with(manifest: dict[str, Any], prerank_version: str) -> dict[str, str]:
    """What a reader's candidates depend on: the retrieval encoder that built the index and the
    pre-ranker that ordered the shortlist."""
    model = manifest.get("model", {})
    model = model if isinstance(model, dict) else {}
    return {
        "encoder": str(model.get("name")),
        "encoder_weights_sha256": str(model.get("weights_sha256")),
        "prerank_weights": prerank_version,
    }


def check_reader(info: AnswerModelInfo, manifest: dict[str, Any], prerank_version: str) -> None:
    """Refuse an answer model that was not fitted on candidates like this index's, naming what
    differs."""
    actual = fitted_with(manifest, prerank_version)
    differences = [
        f"{key} {info.fitted_with.get(key)!r} (the model) != {value!r} (this index)"
        for key, value in actual.items()
        if info.fitted_with.get(key) != value
    ]
    if differences:
        raise AnswerModelError(
            f"answer model {info.name} was not fitted for this index: " + "; ".join(differences)
            + " (rebuild the index with the encoder the model was fitted with, or retrain it: "
            "make train-answer-model)"
        )


def file_sha256(path: Path) -> str:
    return sha256_file(path)


class AnswerModel:
    """The loaded cross-encoder: thread-safe (one ONNX Runtime session, a stateless tokenizer)."""

    def __init__(self, directory: Path = MODEL_DIR, *, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.info = AnswerModelInfo.read(directory)
        model_path = directory / self.info.file
        if not model_path.is_file():
            raise AnswerModelError(f"answer model file {model_path} is missing")
        actual = file_sha256(model_path)
        if actual != self.info.sha256:
            raise AnswerModelError(
                f"answer model {model_path.name} has sha256 {actual[:12]}…, "
                f"{DESCRIPTION} expects {self.info.sha256[:12]}… (corrupted or replaced)"
            )
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: the engine runs several questions at
        # once, and spinning threads would take cores from the others.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._outputs = [o.name for o in self.session.get_outputs()]
        if self.info.margins is not None and "answerable_logit" not in self._outputs:
            raise AnswerModelError(
                f"{DESCRIPTION} gives answerability margins, but {model_path.name} has no "
                "answerability head"
            )

    @property
    def name(self) -> str:
        return self.info.name

    def score(self, question: str, candidates: Sequence[Candidate]) -> list[Scored]:
        """One batched model call over every candidate."""
        if not candidates:
            return []
        batch = encode_pairs(self.tokenizer, question, candidates, self.info.max_length)
        outputs = dict(zip(self._outputs, self.session.run(
            self._outputs,
            {
                "input_ids": batch.input_ids,
                "attention_mask": batch.attention_mask,
                "token_type_ids": batch.token_type_ids,
            },
        ), strict=True))
        logits, starts, ends = (outputs[k] for k in ("answer_logit", "start_logits", "end_logits"))
        answerable = outputs.get("answerable_logit")
        out = []
        for i in range(len(candidates)):
            offsets = batch.sentence_offsets[i]
            pair = best_span(starts[i], ends[i], int(batch.sentence_first[i]), len(offsets))
            span = None if pair is None else (offsets[pair[0]][0], offsets[pair[1]][1])
            out.append(Scored(float(logits[i]), span,
                              None if answerable is None else float(answerable[i])))
        return out
