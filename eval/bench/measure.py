"""Small measuring tools shared by the scale and peers benchmarks: RSS, timing, percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import psutil

T = TypeVar("T")


def rss_bytes() -> int:
    """Resident set size of this process (0 where unavailable)."""
    try:
        return int(psutil.Process().memory_info().rss)
    except psutil.Error:
        return 0


@dataclass(frozen=True)
class Latency:
    """Per-call latency in milliseconds over ``count`` timed calls."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        if not samples_ms:
            raise ValueError("no latency samples")
        p50, p95, p99 = np.percentile(np.asarray(samples_ms, dtype=np.float64), [50, 95, 99])
        return cls(len(samples_ms), round(float(p50), 3), round(float(p95), 3),
                   round(float(p99), 3), round(float(np.mean(samples_ms)), 3))


def time_each(call: Callable[[T], object], items: Iterable[T], warmup: int = 5) -> list[float]:
    """Milliseconds per call, one item at a time, after ``warmup`` untimed calls (warm caches)."""
    items = list(items)
    for item in items[:warmup]:
        call(item)
    out = []
    for item in items:
        started = time.perf_counter()
        call(item)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def time_interleaved(
    calls: Mapping[str, Callable[[T], object]], items: Iterable[T]
) -> dict[str, list[float]]:
    """Milliseconds per call for several systems, taken item by item in rotating order, so a
    change of load on a shared machine affects every system alike (side-by-side ratios)."""
    names = list(calls)
    out: dict[str, list[float]] = {name: [] for name in names}
    for i, item in enumerate(items):
        for name in names[i % len(names):] + names[: i % len(names)]:
            started = time.perf_counter()
            calls[name](item)
            out[name].append((time.perf_counter() - started) * 1e3)
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, rounded; None when either is missing or the denominator is 0."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)
