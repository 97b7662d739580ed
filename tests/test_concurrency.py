"""The service answers on several engine threads at once: the ONNX encoder, the stemmer and the
engine must give every thread exactly what one thread alone would get."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.lexical import tokenize
from service.runtime import (
    ENGINE_THREAD_NICENESS,
    SerialEncoder,
    engine_threads,
    shareable,
    yield_to_the_event_loop,
)
from service.settings import Settings

THREADS = 4


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_torch_answers_on_one_thread_and_onnx_on_several() -> None:
    assert engine_threads(_settings(encoder_backend="torch", engine_threads=4)) == 1
    assert engine_threads(_settings(encoder_backend="onnx-fp32", engine_threads=3)) == 3
    assert engine_threads(_settings(encoder_backend="onnx-int8")) >= 1


def test_only_the_torch_encoder_is_serialised(hashing_encoder) -> None:
    assert isinstance(shareable(hashing_encoder, _settings(encoder_backend="torch")),
                      SerialEncoder)
    assert shareable(hashing_encoder, _settings(encoder_backend="onnx-fp32")) is hashing_encoder


def test_tokenize_agrees_across_threads() -> None:
    texts = [f"Universities running {n} partnerships were signing agreements" for n in range(400)]
    alone = [tokenize(t) for t in texts]
    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(tokenize, texts)) == alone


@pytest.mark.slow
def test_onnx_encoder_is_safe_to_share(real_encoder) -> None:
    texts = [f"Question number {n}: who signed the memorandum in {1900 + n}?" for n in range(64)]
    alone = np.vstack([real_encoder.encode([t]) for t in texts])
    with ThreadPoolExecutor(THREADS) as pool:
        together = np.vstack(list(pool.map(lambda t: real_encoder.encode([t]), texts)))
    np.testing.assert_array_equal(together, alone)


@pytest.mark.slow
def test_engine_answers_alike_on_several_threads(seed_engine) -> None:
    from eval.datasets import load_gold

    questions = [q.question for q in load_gold()][:40]

    def answer(question: str) -> str:
        return seed_engine.ask(question).model_dump_json(exclude={"timings_ms"})

    alone = [answer(q) for q in questions]
    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(answer, questions)) == alone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_engine_threads_yield_the_cpu_to_the_event_loop() -> None:
    """Only the engine thread is reniced: the process (and the event loop's thread) keep theirs."""
    before = os.getpriority(os.PRIO_PROCESS, 0)

    def engine_thread_niceness() -> int:
        yield_to_the_event_loop()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with ThreadPoolExecutor(1) as pool:
        reniced = pool.submit(engine_thread_niceness).result()
    assert reniced == min(19, before + ENGINE_THREAD_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
