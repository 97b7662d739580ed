"""`citeqa bench`: the step logic, the targets, and a whole quick run on the seed index with the
real models (real uvicorn on 127.0.0.1, real load generator; no timing is asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eval.bench.measure import Latency
from eval.bench.report import Target
from eval.bench.server import process_cpu_seconds, process_memory
from eval.bench.throughput import Step, best_step, should_stop

REPO = Path(__file__).resolve().parents[1]


def _step(concurrency: int, rps: float, p95: float | None, errors: int = 0) -> Step:
    latency = None if p95 is None else Latency(10, p95 / 2, p95, p95, p95 / 2)
    return Step(concurrency, 10, errors, 1.0, rps, latency)


def test_best_step_takes_the_fastest_passing_step() -> None:
    steps = [
        _step(1, 50, 20),
        _step(2, 90, 60),
        _step(4, 120, 99.9),
        _step(8, 130, 140),
        _step(16, 200, 50, errors=1),
    ]
    best = best_step(steps, 100.0)
    assert best is not None and best.concurrency == 4
    assert best_step([_step(1, 10, 101)], 100.0) is None
    assert best_step([], 100.0) is None
    # equal rates: the fewer clients wins
    tie = best_step([_step(8, 100, 50), _step(4, 100, 50)], 100.0)
    assert tie is not None and tie.concurrency == 4


def test_stepping_stops_past_saturation_or_at_errors() -> None:
    assert not should_stop(_step(1, 50, 150), 100.0)  # over the bar, but not twice over
    assert should_stop(_step(1, 50, 201), 100.0)
    assert should_stop(_step(1, 50, 20, errors=1), 100.0)
    assert should_stop(_step(1, 0, None), 100.0)


def test_target_verdicts() -> None:
    assert Target("p50", 15, "ms", True, 12.0).verdict() == "met"
    assert Target("p50", 15, "ms", True, 30.0).verdict() == "missed by 15 ms (100%)"
    assert Target("rps", 150, "req/s", False, 120.0).verdict() == "missed by 30 req/s (20%)"
    assert Target("rps", 150, "req/s", False, None).verdict() == "not measured"
    assert Target("rps", 150, "req/s", False, None).met is None


def test_process_memory_reads_proc() -> None:
    memory = process_memory(os.getpid())
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc on this system")
    assert memory is not None and 0 < memory.rss_bytes <= memory.peak_bytes


def test_process_cpu_seconds_reads_proc() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc on this system")
    before = process_cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))  # burn some CPU
    after = process_cpu_seconds(os.getpid())
    assert before is not None and after is not None and after > before >= 0
    assert process_cpu_seconds(2**22 + 12345) is None  # no such process


@pytest.fixture()
def tiny_index(tmp_path: Path, hashing_encoder) -> Path:
    from index.pipeline import ingest

    index_dir = tmp_path / "index"
    assert ingest([REPO / "seeds"], index_dir, hashing_encoder, progress=False).published
    return index_dir


def test_quick_bench_end_to_end(tmp_path: Path, seed_index: Path, monkeypatch) -> None:
    """What a benchmark measures is the product, so the run uses the real models; the encoder
    comparison (several backends, an int8 index) is left out as ``--no-encoders`` does."""
    from eval.bench.report import write
    from eval.bench.run import QUICK, BenchConfig, run
    from service.settings import Settings

    monkeypatch.chdir(REPO)
    settings = Settings(index_dir=seed_index)
    sizes = QUICK.__class__(**{**QUICK.__dict__, "concurrencies": (1, 2), "step_requests": 20})
    out = tmp_path / "out"
    results = run(BenchConfig(settings=settings, sizes=sizes, out=out, encoders=False))
    json_path, md_path = write(results, out)

    data = json.loads(json_path.read_text())
    sections = data["sections"]
    assert sections["ask_inprocess_seeds"]["questions"] == sizes.ask_questions
    stages = set(sections["ask_http_seeds"]["stages"])
    assert stages >= {"embed", "retrieve", "score", "read", "total"}
    steps = sections["throughput_seeds"]["steps"]
    assert [s["concurrency"] for s in steps][:1] == [1] and all(s["errors"] == 0 for s in steps)
    assert all(s["server_cpu_ms"] > 0 and s["client_cpu_ms"] > 0 for s in steps)
    assert sections["cold_start"]["median_s"] > 0
    assert set(sections["cold_start"]["phases_s"]) == {"imports", "encoder", "index"}
    assert sections["service_memory_after_load"]["rss_bytes"] > 0
    assert sections["profile_seeds"]["hotspots"]
    served = sections["served_index_seeds"]["rows"]  # recall of the dense indexes as served
    assert {r["file"] for r in served} == {"chunks.faiss", "sentences.faiss"}
    assert all(0 < r["served_recall_at_10"] <= 1 and r["search_params"] for r in served)
    assert "encoders" in data["skipped"] and "squad" in data["skipped"]
    assert data["load_average_end"] and data["machine"]["cpus"]
    verdicts = {t["name"]: t["verdict"] for t in data["targets"]}
    assert verdicts["/v1/ask over HTTP, SQuAD, p50"] == "not measured"
    markdown = md_path.read_text()
    for heading in ("## Targets", "## Ask latency", "## Throughput", "## Cold start",
                    "## Dense indexes as served"):
        assert heading in markdown
    assert (out / "profile-seeds.txt").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--accuracy", "fp16=x.json"], "--accuracy takes"),
        (["--squad-index", "no/such/index"], "no index at no/such/index"),
        (["--no-squad", "--corpus", "no/such/folder"], "corpus folder not found"),
    ],
)
def test_bench_cli_bad_usage_is_a_clear_error(argv, message, capsys) -> None:
    from service.cli import main

    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_ingest_texts_are_what_ingest_embeds(tiny_index: Path) -> None:
    """Each document's sentences then its chunks, for the documents of the first chunks."""
    from eval.bench.ingest import chunk_texts, ingest_texts

    version = next(p for p in tiny_index.iterdir() if p.name.startswith("v"))
    chunks = [json.loads(line) for line in (version / "chunks.jsonl").open()]
    sentences = [json.loads(line) for line in (version / "sentences.jsonl").open()]
    first_doc = chunks[0]["doc_id"]
    expected = [s["text"] for s in sentences if s["doc_id"] == first_doc] + [
        c["text"] for c in chunks if c["doc_id"] == first_doc
    ]
    assert ingest_texts(version, 1) == expected
    assert chunk_texts(version, 1) == [chunks[0]["text"]]
    assert len(ingest_texts(version, len(chunks))) == len(chunks) + len(sentences)
