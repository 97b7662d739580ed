"""The shipped answer model: the file CI checks (sha256, size, card), the refusals, the input
encoding shared with training, span decoding, and that the real model reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from eval.datasets import load_gold
from eval.normalize import contains_answer
from retriever.answer_model import (
    DESCRIPTION,
    MAX_QUESTION_TOKENS,
    MAX_SPAN_TOKENS,
    MODEL_DIR,
    AnswerModel,
    AnswerModelError,
    AnswerModelInfo,
    Calibration,
    Candidate,
    best_span,
    check_reader,
    encode_pairs,
    file_sha256,
)
from retriever.engine import Engine

MAX_MODEL_BYTES = 30 * 1024 * 1024  # the size the issue allows a committed model


@pytest.fixture(scope="module")
def info() -> AnswerModelInfo:
    return AnswerModelInfo.read(MODEL_DIR)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


# ---- the committed file ----------------------------------------------------------------------


def test_the_shipped_file_matches_its_description(info: AnswerModelInfo) -> None:
    path = MODEL_DIR / info.file
    assert file_sha256(path) == info.sha256
    assert path.stat().st_size <= MAX_MODEL_BYTES
    assert info.name.endswith(info.sha256[:8])
    assert 0.0 <= info.abstain_below <= 1.0 and info.candidates >= 1


def test_the_model_card_names_the_model_its_data_and_licence(info: AnswerModelInfo) -> None:
    card = (MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    for needed in (info.name, info.sha256, "CC BY-SA 4.0", "all-MiniLM-L6-v2",
                   "make train-answer-model", "seed"):
        assert needed in card, needed
    training = json.loads((MODEL_DIR / "training.json").read_text(encoding="utf-8"))
    assert training["train"]["config"]["seed"] is not None and training["dev"]


def test_a_changed_model_file_is_refused(tmp_path: Path, info: AnswerModelInfo) -> None:
    copy = tmp_path / "model"
    shutil.copytree(MODEL_DIR, copy)
    data = bytearray((copy / info.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / info.file).write_bytes(bytes(data))
    with pytest.raises(AnswerModelError, match="sha256"):
        AnswerModel(copy)


def test_a_missing_model_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(AnswerModelError, match="no answer model"):
        AnswerModel(tmp_path)
    shutil.copy(MODEL_DIR / DESCRIPTION, tmp_path / DESCRIPTION)
    with pytest.raises(AnswerModelError, match="missing"):
        AnswerModel(tmp_path)


def test_a_model_fitted_for_other_candidates_is_refused_naming_the_difference(
    info: AnswerModelInfo,
) -> None:
    manifest = {"model": {"name": "other-encoder", "weights_sha256": "abc"}}
    with pytest.raises(AnswerModelError) as refused:
        check_reader(info, manifest, info.fitted_with["prerank_weights"])
    message = str(refused.value)
    assert "other-encoder" in message and "encoder_weights_sha256" in message
    assert "prerank_weights" not in message
    same_encoder = {"model": {"name": info.fitted_with["encoder"],
                              "weights_sha256": info.fitted_with["encoder_weights_sha256"]}}
    with pytest.raises(AnswerModelError, match="prerank_weights 'fit-other'|'fit-other'"):
        check_reader(info, same_encoder, "fit-other")
    check_reader(info, same_encoder, info.fitted_with["prerank_weights"])  # accepted


def test_an_index_of_another_encoder_refuses_the_real_model(
    tmp_path: Path, hashing_encoder, answer_model
) -> None:
    from tests.conftest import index_of

    ix = index_of(tmp_path, hashing_encoder, {"a.txt": "The bridge opened in 1932.\n"})
    with pytest.raises(AnswerModelError, match="hashing"):
        Engine.open(ix, hashing_encoder, reader=answer_model)


# ---- encoding and decoding (pure) ------------------------------------------------------------


def test_pairs_are_encoded_as_training_saw_them(tokenizer: Tokenizer) -> None:
    batch = encode_pairs(
        tokenizer, "When did it open?",
        [Candidate("The bridge opened in 1932.", "Bridges. It was built."),
         Candidate("Short.", "")],
        max_length=96,
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    ids, types, mask = batch.input_ids, batch.token_type_ids, batch.attention_mask
    assert ids.shape == types.shape == mask.shape and ids.shape[0] == 2
    for row in range(2):
        n = int(mask[row].sum())
        assert ids[row, 0] == cls and ids[row, n - 1] == sep
        assert list(ids[row, :n]).count(sep) == 3
        first = int(batch.sentence_first[row])
        assert ids[row, first - 1] == sep and types[row, first - 1] == 0 and types[row, first] == 1
    # Offsets point back into the sentence: the highlight is exact text.
    sentence = "The bridge opened in 1932."
    pieces = [sentence[a:b] for a, b in batch.sentence_offsets[0]]
    assert "".join(pieces).replace(" ", "") == sentence.replace(" ", "")


def test_long_inputs_are_cut_to_max_length_keeping_the_question(tokenizer: Tokenizer) -> None:
    question = "why " * 100
    batch = encode_pairs(tokenizer, question, [Candidate("word " * 200, "context " * 50)], 64)
    assert batch.input_ids.shape[1] == 64
    assert int(batch.sentence_first[0]) == MAX_QUESTION_TOKENS + 2
    assert len(batch.sentence_offsets[0]) == 64 - (MAX_QUESTION_TOKENS + 2) - 2


def test_best_span_is_the_highest_start_plus_end_in_order() -> None:
    start = np.array([0, 0, 5, 0, 0, 0], dtype=np.float32)
    end = np.array([0, 0, 0, 0, 4, 9], dtype=np.float32)
    # Sentence tokens are positions 2.. (first=2): start at 0 (pos 2), end at 3 (pos 5).
    assert best_span(start, end, first=2, n_tokens=4) == (0, 3)
    # An end before the start is never chosen.
    assert best_span(np.array([0, 0, 9.0]), np.array([0, 5.0, 0]), first=0, n_tokens=3) == (2, 2)
    assert best_span(start, end, first=2, n_tokens=0) is None


def test_best_span_is_never_longer_than_the_cap() -> None:
    n = MAX_SPAN_TOKENS + 10
    start, end = np.zeros(n), np.zeros(n)
    start[0], end[n - 1] = 10.0, 10.0
    i, j = best_span(start, end, first=0, n_tokens=n)
    assert 0 <= j - i < MAX_SPAN_TOKENS


def test_calibration_is_a_monotone_probability() -> None:
    calibrate = Calibration(a=1.5, b=-0.5)
    values = [calibrate(x) for x in (-1e9, -3.0, 0.0, 3.0, 1e9)]
    assert values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)


def test_the_pre_ranker_score_adds_by_its_fitted_weight(info: AnswerModelInfo) -> None:
    from dataclasses import replace

    assert replace(info, prerank_weight=0.0).combine(1.0, 5.0) == 1.0
    assert replace(info, prerank_weight=0.5).combine(1.0, 4.0) == 3.0


# ---- the real model reads --------------------------------------------------------------------


def test_the_real_model_prefers_answer_sentences_on_held_out_gold_questions(
    seed_engine: Engine,
) -> None:
    """For gold test questions (never fitted on), the sentence holding the answer scores above a
    sentence of the same shortlist that does not, in most questions."""
    corpus, reader = seed_engine.corpus, seed_engine.reader
    wins = trials = 0
    for q in [q for q in load_gold() if q.split == "test" and q.answerable]:
        listed = seed_engine.shortlist(q.question)
        rows = [int(listed.candidates.rows[i]) for i in listed.order[:8]]
        good = [r for r in rows if contains_answer(corpus.sentence_text(r), q.answers)]
        bad = [r for r in rows if not contains_answer(corpus.sentence_text(r), q.answers)]
        if not good or not bad:
            continue
        pair = [Candidate(corpus.sentence_text(r), corpus.context_of(r)) for r in (good[0], bad[0])]
        scored = reader.score(q.question, pair)
        wins += scored[0].logit > scored[1].logit
        trials += 1
    assert trials >= 20
    assert wins / trials >= 0.75, f"{wins}/{trials}"


def test_the_highlight_lies_inside_the_answer(seed_engine: Engine) -> None:
    answered = 0
    for q in [q for q in load_gold() if q.split == "test" and q.answerable][:15]:
        answer = seed_engine.ask(q.question)
        if answer.abstained:
            continue
        answered += 1
        assert answer.answer == answer.citations[0].quote
        assert answer.highlight is not None
        assert 0 <= answer.highlight.start < answer.highlight.end <= len(answer.answer)
        assert answer.answer[answer.highlight.start : answer.highlight.end].strip()
    assert answered >= 5
