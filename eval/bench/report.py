"""Turn a bench run into targets (met or missed, by how much), JSON and a markdown report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from .run import BenchResults

GB = 1_000_000_000


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    at_most: bool  # True: measured must be <= limit; False: >= limit
    measured: float | None  # None: not measured in this run

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def verdict(self) -> str:
        if self.measured is None:
            return "not measured"
        if self.met:
            return "met"
        gap = abs(self.measured - self.limit)
        share = f" ({gap / self.limit:.0%})" if self.limit else ""
        return f"missed by {gap:.3g} {self.unit}{share}"


def _get(sections: dict[str, Any], *path: str) -> Any:
    value: Any = sections
    for key in path:
        if value is None:
            return None
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


# The answering budget with the answer model (issue 13): correct answers first, within this.
ASK_P50_MS, ASK_P95_MS = 60, 150


def _serving(s: dict[str, Any], suffix: str = "", label: str = "") -> list[Target]:
    """The HTTP targets of one served configuration (``suffix`` picks its sections)."""
    best = _get(s, f"throughput_seeds{suffix}", "best")
    return [
        Target(f"/v1/ask over HTTP, seeds, p50{label}", ASK_P50_MS, "ms", True,
               _get(s, f"ask_http_seeds{suffix}", "wall", "p50_ms")),
        Target(f"/v1/ask over HTTP, seeds, p95{label}", ASK_P95_MS, "ms", True,
               _get(s, f"ask_http_seeds{suffix}", "wall", "p95_ms")),
        Target(f"sustained requests/s (p95 <= 100 ms, 0 errors){label}", 150, "req/s", False,
               best.rps if best else (0.0 if f"throughput_seeds{suffix}" in s else None)),
    ]


def _int8_speedup(s: dict[str, Any], section: str) -> float | None:
    """int8 tokens/s over SentenceTransformer's on the same texts, in one run."""
    rates = s.get(section) or {}
    if not {"torch", "onnx-int8"} <= set(rates):
        return None
    return round(rates["onnx-int8"].tokens_per_s / rates["torch"].tokens_per_s, 2)


def targets(results: BenchResults) -> list[Target]:
    s = results.sections
    speedup, chunk_speedup = _int8_speedup(s, "encode_ingest_mix"), _int8_speedup(
        s, "encode_all_cores")
    accuracy = s.get("answer_accuracy") or {}
    # Either fp32 backend gives the fp32 figure (they compute the same vectors).
    fp32 = next((accuracy[b] for b in ("onnx-fp32", "torch") if accuracy.get(b) is not None), None)
    int8 = accuracy.get("onnx-int8")
    gap = abs(int8 - fp32) if int8 is not None and fp32 is not None else None
    memory = _get(s, "service_memory_after_load", "rss_bytes")
    int8_serving = "ask_http_seeds_int8" in s
    return [
        *_serving(s),
        *(_serving(s, "_int8", " (onnx-int8 serving)") if int8_serving else []),
        Target("/v1/ask over HTTP, SQuAD, p50", ASK_P50_MS, "ms", True,
               _get(s, "ask_http_squad", "wall", "p50_ms")),
        Target("/v1/ask over HTTP, SQuAD, p95", ASK_P95_MS, "ms", True,
               _get(s, "ask_http_squad", "wall", "p95_ms")),
        Target("ingest tokens/s, int8 / fp32 SentenceTransformer (ingest's sentences + chunks)",
               2.0, "x", False, speedup),
        Target("the same on chunks alone (long texts: int8's hardest case)", 2.0, "x", False,
               chunk_speedup),
        Target("answer@1 on SQuAD, |int8 - fp32|", 0.01, "", True,
               round(gap, 4) if gap is not None else None),
        Target("cold start to /readyz 200 (median)", 5, "s", True,
               _get(s, "cold_start", "median_s")),
        Target("service RSS on the seeds (after the load test)", 1.0, "GB", True,
               round(memory / GB, 3) if memory else None),
    ]


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(results: BenchResults) -> dict[str, Any]:
    data = _jsonable(asdict(results))
    data["targets"] = [
        {**asdict(t), "met": t.met, "verdict": t.verdict()} for t in targets(results)
    ]
    return data


def write(results: BenchResults, out_dir: Path) -> tuple[Path, Path]:
    from .markdown import render

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "bench.json", out_dir / "bench.md"
    json_path.write_text(json.dumps(to_json(results), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render(results, targets(results)), encoding="utf-8")
    return json_path, md_path
