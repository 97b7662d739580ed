"""Ingest speed: encoder backends side by side on the same texts, and a whole ``citeqa ingest``.

``encode_rates`` times each backend on the same texts (chunks alone, and the sentences + chunks
mix that ingest embeds), backends alternating round by round
so that a shared machine's load falls on all of them alike; each backend's best round is kept,
in wall time and in CPU time (the process's, all threads): on a busy machine the CPU-time rate is
the steadier measure of the work each backend needs. Tokens are counted with the model's own
tokenizer, truncated as the model truncates.

``ingest_run`` runs ``citeqa ingest`` into a fresh directory in a subprocess and polls its peak
resident memory (VmHWM) from /proc.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.embed import Encoder

from .server import process_memory


@dataclass(frozen=True)
class EncodeRate:
    backend: str
    texts: int
    tokens: int
    wall_s: float  # best round
    cpu_s: float  # best round, CPU seconds of this process
    tokens_per_s: float
    chunks_per_s: float
    cpu_tokens_per_s: float  # tokens per CPU second
    cosine_min: float  # to the first (reference) backend's vectors of the same texts
    cosine_mean: float


def count_tokens(texts: Sequence[str], tokenizer_json: Path, max_tokens: int) -> int:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.enable_truncation(max_tokens)
    return sum(len(e.ids) for e in tokenizer.encode_batch(list(texts)))


def encode_rates(encoders: Mapping[str, Encoder], texts: Sequence[str], tokens: int,
                 rounds: int = 3) -> dict[str, EncodeRate]:
    texts = list(texts)
    for encoder in encoders.values():
        encoder.encode(texts[:8])  # load lazily built kernels before timing
    wall: dict[str, list[float]] = {name: [] for name in encoders}
    cpu: dict[str, list[float]] = {name: [] for name in encoders}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, encoder in encoders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            vectors[name] = encoder.encode(texts)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    reference = next(iter(vectors.values()))
    out = {}
    for name in encoders:
        w, c = min(wall[name]), min(cpu[name])
        cosines = (vectors[name] * reference).sum(axis=1)
        out[name] = EncodeRate(
            name, len(texts), tokens, round(w, 3), round(c, 3), round(tokens / w, 1),
            round(len(texts) / w, 2), round(tokens / c, 1), round(float(cosines.min()), 4),
            round(float(cosines.mean()), 4),
        )
    return out


def _records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def ingest_texts(index_version_dir: Path, chunk_limit: int) -> list[str]:
    """What ingest embeds for the documents that hold the first ``chunk_limit`` chunks: each
    document's sentences, then its chunks (index.pipeline's order). Short sentences outnumber
    chunks about four to one, so this mix, not chunks alone, is ingest's real workload."""
    chunks = _records(index_version_dir / "chunks.jsonl")
    docs = list(dict.fromkeys(c["doc_id"] for c in chunks[:chunk_limit]))
    wanted = set(docs)
    sentences = [r for r in _records(index_version_dir / "sentences.jsonl")
                 if r["doc_id"] in wanted]
    return [r["text"] for doc in docs for group in (sentences, chunks)
            for r in group if r["doc_id"] == doc]


def chunk_texts(index_version_dir: Path, limit: int) -> list[str]:
    """The first ``limit`` chunk texts of a built index version (real text, real lengths)."""
    out: list[str] = []
    with (index_version_dir / "chunks.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= limit:
                break
            out.append(json.loads(line)["text"])
    return out


@dataclass(frozen=True)
class IngestRun:
    backend: str
    corpus: str
    seconds: float  # the whole command: interpreter start, model load, ingest, publish
    reported_seconds: float | None  # what ingest itself reported
    documents: int
    chunks: int
    sentences: int
    peak_rss_bytes: int


_PUBLISHED = re.compile(
    r"(\d+) documents, (\d+) chunks, (\d+) sentences .* in ([\d.]+)s", re.DOTALL
)


def ingest_run(corpus: Path, env: Mapping[str, str], backend: str,
               cwd: Path | None = None) -> IngestRun:
    """One ``citeqa ingest`` of ``corpus`` into a fresh directory, run in ``cwd`` (the checkout
    whose code it imports; default this one)."""
    with tempfile.TemporaryDirectory(prefix="citeqa-bench-ingest-") as tmp:
        # A variant's own environment may name another backend than the run's.
        full_env = {**os.environ, "CITEQA_ENCODER_BACKEND": backend, **env,
                    "CITEQA_INDEX_DIR": str(Path(tmp) / "index")}
        log = Path(tmp) / "out.txt"
        started = time.perf_counter()
        peak = 0
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "ingest", "--quiet", str(corpus.resolve())],
                env=full_env, stdout=sink, stderr=subprocess.DEVNULL, cwd=cwd,
            )
            # The child's own high-water mark, polled: the kernel's rusage would also count the
            # pages it shared with this (large) process between fork and exec.
            while proc.poll() is None:
                memory = process_memory(proc.pid)
                peak = max(peak, memory.peak_bytes if memory else 0)
                time.sleep(0.05)
        seconds = time.perf_counter() - started
        output = log.read_text()
    found = _PUBLISHED.search(output)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"citeqa ingest ({backend}) failed with exit {proc.returncode}")
    documents, chunks, sentences = (int(found.group(i)) for i in (1, 2, 3))
    return IngestRun(backend, corpus.name, round(seconds, 2), float(found.group(4)), documents,
                     chunks, sentences, peak)
