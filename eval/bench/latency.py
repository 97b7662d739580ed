"""Ask latency, warm, one question at a time: in-process, over HTTP, and per engine stage.

Every timed question is distinct (no answer is served from a cache) and the warm-up questions are
not timed. Stages are the engine's own ``timings_ms`` (embed, retrieve, score, answer, total); over
HTTP the client-side wall time of POST /v1/ask is reported beside them.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from index.embed import Encoder

from .measure import Latency


@dataclass(frozen=True)
class AskLatency:
    where: str  # "in-process" or "http"
    corpus: str
    questions: int
    abstained: int
    wall: Latency  # the caller's clock: engine.ask, or the HTTP round trip
    stages: dict[str, Latency] = field(default_factory=dict)  # the engine's timings_ms


def _collect(
    ask: Callable[[str], tuple[Mapping[str, float], bool]],
    questions: Sequence[str], warmup: Sequence[str], where: str, corpus: str,
) -> AskLatency:
    for question in warmup:
        ask(question)
    wall: list[float] = []
    stages: dict[str, list[float]] = {}
    abstained = 0
    for question in questions:
        started = time.perf_counter()
        timings, did_abstain = ask(question)
        wall.append((time.perf_counter() - started) * 1e3)
        abstained += did_abstain
        for stage, ms in timings.items():
            stages.setdefault(stage, []).append(float(ms))
    return AskLatency(
        where, corpus, len(questions), abstained, Latency.of(wall),
        {stage: Latency.of(values) for stage, values in stages.items()},
    )


def in_process(engine: object, questions: Sequence[str], warmup: Sequence[str],
               corpus: str) -> AskLatency:
    """``engine.ask`` per question (an Engine; typed loosely so eval does not import retriever)."""

    def ask(question: str) -> tuple[Mapping[str, float], bool]:
        answer = engine.ask(question)  # type: ignore[attr-defined]
        return answer.timings_ms, answer.abstained

    return _collect(ask, questions, warmup, "in-process", corpus)


def over_http(url: str, questions: Sequence[str], warmup: Sequence[str],
              corpus: str) -> AskLatency:
    """POST /v1/ask per question on one keep-alive connection.

    The client is the standard library's http.client: httpx adds client-side Python time per
    request (eval/results/bench/README.md), which the round trip would otherwise charge to the
    service."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80), timeout=60)
    headers = {"Content-Type": "application/json"}

    def ask(question: str) -> tuple[Mapping[str, float], bool]:
        connection.request("POST", "/v1/ask", json.dumps({"question": question}), headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /v1/ask answered {response.status}")
        answer = json.loads(body)
        return answer["timings_ms"], bool(answer["abstained"])

    try:
        return _collect(ask, questions, warmup, "http", corpus)
    finally:
        connection.close()


def query_embedding(encoders: Mapping[str, Encoder], questions: Sequence[str],
                    warmup: int = 5) -> dict[str, Latency]:
    """One question per ``encode`` call, backends interleaved question by question so that a
    shared machine's load falls on all of them alike. Keys ``<backend>`` hold wall time and
    ``<backend> (CPU)`` this process's CPU time per call, the steadier figure on a busy box."""
    for question in questions[:warmup]:
        for encoder in encoders.values():
            encoder.encode([question])
    samples: dict[str, list[float]] = {}
    for question in questions:
        for name, encoder in encoders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            encoder.encode([question])
            samples.setdefault(name, []).append((time.perf_counter() - w0) * 1e3)
            samples.setdefault(f"{name} (CPU)", []).append((time.process_time() - c0) * 1e3)
    return {name: Latency.of(values) for name, values in samples.items()}
