"""The evaluation harness end to end on a tiny index built with the fake encoder: in-process (all
modes), over HTTP against a local server speaking the service's JSON contract, with the report
files, the "what got worse" diff and the gate; and the ``citeqa eval`` command line on the real
seed index with the real models (the verb builds its engine as the product does)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from eval import cli as eval_cli
from eval import gate, report
from eval.datasets import Question
from eval.harness import (
    MODES,
    DocumentCache,
    EngineTarget,
    EvalRun,
    HttpTarget,
    error_row,
    run,
    score_answer,
)
from index.pipeline import IngestConfig, ingest
from retriever.engine import Engine
from service.cli import main as citeqa
from tests.fake_encoder import HashingEncoder
from tests.fake_reader import WordOverlapReader

ROOT = Path(__file__).resolve().parents[1]
DOCS = {
    "alpha.txt": (
        "Harbour Report\n\nThe harbour bridge opened on 4 May 1998 after six years of work. "
        "It cost £120 million to build.\n\nThe chief engineer was Maria Lopez, who also "
        "designed the tunnel.\n"
    ),
    "beta.txt": (
        "City Library\n\nThe city library holds 2,400,000 books. It was founded in 1852 by "
        "Thomas Reed.\n\nThe library opens at nine in the morning every weekday.\n"
    ),
}
QUESTIONS = [
    Question("t1", "When did the harbour bridge open?", ("4 May 1998",), ("alpha",), "date",
             "test"),
    Question("t2", "Who was the chief engineer?", ("Maria Lopez",), ("alpha",), "person", "test"),
    Question("t3", "How many books does the city library hold?", ("2,400,000",), ("beta",),
             "numeric", "test"),
    Question("t4", "Who founded the city library?", ("Thomas Reed",), ("beta",), "person", "test"),
    # never answerable from these documents: a guaranteed wrong answer for the diff test
    Question("t5", "What colour is the harbour bridge?", ("vermilion",), ("alpha",), "factoid",
             "test"),
    Question("t6", "What is the population of Mars?", (), (), "unanswerable", "test"),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    ingest([corpus], root / "index", HashingEncoder(dim=64), IngestConfig(), progress=False)
    return root / "index"


@pytest.fixture(scope="module")
def engine(index_dir: Path) -> Engine:
    return Engine.open(index_dir, HashingEncoder(dim=64), reader=WordOverlapReader(index_dir))


def test_in_process_run_writes_every_output(engine: Engine, tmp_path: Path) -> None:
    result = run(QUESTIONS, EngineTarget(engine), dataset="tiny", split="test", progress=False)
    assert len(result.rows) == len(QUESTIONS) * len(MODES)
    assert {r["mode"] for r in result.rows} == set(MODES)
    summary = report.write_results(result, tmp_path / "run")
    for name in ("summary.json", "rows.jsonl", "report.md", "report.html", "latency.png",
                 "reliability.png", "per_kind_accuracy.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["metrics"].keys() == set(MODES)
    for mode in MODES:
        values = on_disk["metrics"][mode]
        assert values["citation_validity"] == 1.0  # the engine's offsets are exact
        assert values["answer_grounding"] == 1.0
        assert values["errors"] == 0 and values["questions"] == len(QUESTIONS)
        assert set(on_disk["per_kind"][mode]) == {q.kind for q in QUESTIONS}
        assert len(on_disk["reliability"][mode]) == 10
    t5 = next(r for r in result.rows if r["id"] == "t5")
    assert not t5["answer_correct"]
    assert "| metric | hybrid | dense | bm25 |" in (tmp_path / "run" / "report.md").read_text()
    assert "answer@1" in report.console_table(summary)


def test_what_got_worse_diff(engine: Engine, tmp_path: Path) -> None:
    result = run(QUESTIONS, EngineTarget(engine), dataset="tiny", split="test",
                 modes=["hybrid"], progress=False)
    previous = [dict(r) for r in result.rows]
    for r in previous:
        if r["id"] == "t5":  # pretend the last run answered it, from the first citation
            r |= {"correct": True, "answer_correct": True, "first_hit_rank": 1}
    prev_dir = tmp_path / "prev"
    prev_dir.mkdir()
    (prev_dir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in previous))
    summary = report.write_results(result, tmp_path / "now", previous=prev_dir)
    worse = summary["compare"]["worse_questions"]
    changes = {(w["id"], w["change"]) for w in worse}
    assert changes == {("t5", "now wrong"), ("t5", "first hit lower")}
    md = (tmp_path / "now" / "report.md").read_text()
    assert "What got worse" in md and "now wrong" in md


def test_gate_lists_the_questions_behind_a_failing_metric(engine: Engine) -> None:
    result = run(QUESTIONS, EngineTarget(engine), dataset="gold", split="test",
                 modes=["hybrid"], progress=False)
    summary = report.build_summary(result)
    strict = {"dataset": "gold", "split": "test", "mode": "hybrid",
              "minimums": {"answer_at_1": 1.0, "citation_validity": 1.0},
              "maximums": {"errors": 0}, "tolerance": {"method": "exact"}}
    reference = [r | {"answer_correct": True} for r in result.rows]
    verdict = gate.check(summary, result.rows, strict, reference)
    assert not verdict.passed
    assert [f.metric for f in verdict.failures] == ["answer_at_1"]
    listed = verdict.failures[0].questions
    assert "t5" in {q["id"] for q in listed} and all(q["regressed"] for q in listed)
    assert "REGRESSED t5" in verdict.render()
    lenient = strict | {"minimums": {"answer_at_1": 0.0, "citation_validity": 1.0}}
    assert gate.check(summary, result.rows, lenient).passed
    raised = gate.raised_baseline(summary, lenient)
    value = summary["metrics"]["hybrid"]["answer_at_1"]
    assert raised["minimums"]["answer_at_1"] == max(0.0, math.floor((value - 0.005) * 100) / 100)
    assert raised["minimums"]["citation_validity"] == 1.0
    assert gate.check(summary, result.rows, raised).passed


# ---- over HTTP ------------------------------------------------------------------------------
# Fault injection: a stand-in server speaking the service's JSON contract but serving document
# text that does not match the citations' offsets (the real service cannot be made to do that).


def _serve(engine: Engine, corrupt_documents: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/readyz":
                return self._json(200, {"status": "ready"})
            doc = engine.document(unquote(self.path.removeprefix("/v1/documents/")))
            if not self.path.startswith("/v1/documents/") or doc is None:
                return self._json(404, {"title": "Not Found"})
            text = "#" + doc.text if corrupt_documents else doc.text
            return self._json(200, {"doc_id": doc.doc_id, "title": doc.title, "url": doc.url,
                                    "text": text})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = engine.ask(body["question"], top_k=body["top_k"])
            self._json(200, json.loads(answer.model_dump_json()))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def service(engine: Engine, request: pytest.FixtureRequest) -> Iterator[str]:
    server = _serve(engine, corrupt_documents=getattr(request, "param", False))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_run_against_the_real_service_matches_in_process(
    engine: Engine, index_dir: Path, tmp_path: Path
) -> None:
    """The real app (uvicorn, loopback) with a tight rate limit: the harness waits out the 429s
    and gets exactly the answers the engine gives in-process."""
    helpers = pytest.importorskip("tests.service_helpers")
    settings = lambda url: helpers.make_settings(  # noqa: E731
        index_dir, tmp_path, encoder=HashingEncoder(dim=64), rate_limit_per_minute=1200.0,
        rate_limit_burst=3)
    with helpers.running(settings, lambda _settings: engine) as live:
        over_http = run(QUESTIONS, HttpTarget(live.url), dataset="tiny", split="test",
                        modes=["hybrid"], progress=False)
    local = run(QUESTIONS, EngineTarget(engine), dataset="tiny", split="test",
                modes=["hybrid"], progress=False)
    keys = ("id", "answer", "correct", "first_hit_rank", "ranked_docs", "citations_invalid",
            "citations_checked")
    assert [{k: r[k] for k in keys} for r in over_http.rows] == [
        {k: r[k] for k in keys} for r in local.rows]
    assert all(r["error"] is None for r in over_http.rows)
    assert report.build_summary(over_http)["metrics"]["hybrid"]["citation_validity"] == 1.0


@pytest.mark.parametrize("service", [True], indirect=True)
def test_http_run_detects_offsets_that_do_not_match_the_document(service: str) -> None:
    result = run(QUESTIONS, HttpTarget(service), dataset="tiny", split="test", modes=["hybrid"],
                 progress=False)
    summary = report.build_summary(result)
    assert summary["metrics"]["hybrid"]["citation_validity"] == 0.0
    assert any("quote != text" in p for r in result.rows for p in r["citation_problems"])


def test_unreachable_service_is_a_failed_run_not_a_report(tmp_path: Path) -> None:
    code = citeqa(["eval", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "x"), "--quiet"])
    assert code == 1 and not (tmp_path / "x").exists()


# ---- the command line ------------------------------------------------------------------------


def test_cli_runs_the_gold_set_and_diffs_against_the_previous_run(
    tmp_path: Path, seed_index: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(seed_index))
    out = tmp_path / "results"
    args = ["eval", "--limit", "6", "--modes", "hybrid,bm25", "--out", str(out), "--quiet"]
    assert citeqa(args) == 0
    first = capsys.readouterr().out
    assert "citeqa eval — gold (test, 6 questions)" in first and "bm25" in first
    rows = report.read_rows(out)
    assert len(rows) == 12 and {r["split"] for r in rows} == {"test"}
    assert citeqa(args) == 0  # same folder again: compared with the run it replaces
    summary = json.loads((out / "summary.json").read_text())
    assert summary["compare"]["previous"] == str(out) and summary["compare"]["worse"] == 0
    assert citeqa(["eval", "--dataset", "squad", "--gate"]) == 2  # the gate is gold/test only
    assert citeqa(["eval", "--url", "http://x", "--modes", "dense"]) == 2


# ---- pure: rows, splits and the gate on hand-made answers (no engine) -----------------------

TEXT = "Harbour Report. The harbour bridge opened on 4 May 1998 after six years of work."
SENTENCE = "The harbour bridge opened on 4 May 1998 after six years of work."


def _answer(abstain: bool = False, highlight: dict | None = None, conflicts: int = 0) -> dict:
    """An Answer object as the engine returns it, quoting SENTENCE from document "alpha"."""
    start = TEXT.index(SENTENCE)
    cite = {"doc_id": "alpha", "quote": SENTENCE, "start": start, "end": start + len(SENTENCE),
            "passage": TEXT, "passage_start": 0, "passage_end": len(TEXT), "score": 0.5}
    return {"answer": None if abstain else SENTENCE, "abstained": abstain,
            "highlight": None if abstain else highlight, "confidence": 0.7,
            "citations": [cite], "conflicts": [cite] * conflicts, "timings_ms": {"total": 1.0}}


def _row(qid: str, split: str, answers: tuple[str, ...], abstain: bool = False,
         highlight: dict | None = None, conflicts: int = 0) -> dict:
    q = Question(qid, "When did the bridge open?", answers, ("alpha",),
                 "date" if answers else "unanswerable", split)
    answer = _answer(abstain, highlight, conflicts)
    return score_answer(q, "hybrid", answer, DocumentCache(lambda _: TEXT), 5.0)


def _run(rows: list[dict], split: str = "all") -> EvalRun:
    return EvalRun("gold", split, "qa", "hand-made", ["hybrid"], 10, rows, {"hybrid": 0.1})


def test_rows_carry_span_scores_and_quote_length() -> None:
    at = SENTENCE.index("4 May 1998")
    hit = _row("a", "test", ("4 May 1998",), highlight={"start": at, "end": at + 10})
    assert (hit["span_em"], hit["span_f1"], hit["quote_chars"]) == (1.0, 1.0, len(SENTENCE))
    whole = _row("b", "test", ("4 May 1998",))  # no highlight: the whole quote is the span
    assert whole["span_em"] == 0.0 and 0.0 < whole["span_f1"] < 1.0
    abstained = _row("c", "test", ("4 May 1998",), abstain=True)
    assert (abstained["span_em"], abstained["span_f1"], abstained["quote_chars"]) == (0, 0, None)
    unanswerable = _row("d", "test", ())
    assert unanswerable["span_em"] is None and unanswerable["span_f1"] is None
    q = Question("e", "?", ("x",), (), "factoid", "test")
    assert error_row(q, "hybrid", "boom")["span_f1"] == 0.0


def test_summary_leads_with_test_shows_dev_and_never_reports_train(tmp_path: Path) -> None:
    at = SENTENCE.index("4 May 1998")
    right = {"start": at, "end": at + 10}
    rows = [
        _row("tr1", "train", ("4 May 1998",), highlight=right),
        _row("tr2", "train", ("4 May 1998",), highlight=right),
        _row("d1", "dev", ("4 May 1998",), highlight=right),
        _row("d2", "dev", ("6 June 2001",)),  # wrong
        _row("t1", "test", ("4 May 1998",), highlight=right),
        _row("t2", "test", ("4 May 1998",), abstain=True),  # false abstention
        _row("t3", "test", (), abstain=True),  # right abstention
        _row("t4", "test", ("4 May 1998",), conflicts=1, highlight=right),  # a false alarm
    ]
    summary = report.write_results(_run(rows), tmp_path / "run")
    assert summary["headline_split"] == "test"
    assert summary["split_questions"] == {"test": 4, "dev": 2}
    assert summary["excluded_train_questions"] == 2 and summary["questions"] == 6
    head = summary["metrics"]["hybrid"]  # the headline: test only
    assert head["questions"] == 4 and head["answer_at_1"] == pytest.approx(2 / 3)
    assert head["span_em"] == pytest.approx(2 / 3)
    assert head["abstention_recall"] == 1.0
    assert head["false_abstention_rate"] == pytest.approx(1 / 3)
    assert head["conflict_false_alarm_rate"] == pytest.approx(1 / 2)
    assert head["median_quote_chars"] == len(SENTENCE)
    per_split = summary["per_split"]["hybrid"]
    assert list(per_split) == ["test", "dev", "all"]
    assert per_split["dev"]["answer_at_1"] == 0.5 and per_split["all"]["questions"] == 6
    written = report.read_rows(tmp_path / "run")
    assert {r["split"] for r in written} == {"dev", "test"}  # train rows are not even written
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| metric | hybrid test | hybrid dev |" in md
    assert "Questions of split train are never evaluated or reported (2 left out" in md
    assert "span F1 (SQuAD)" in md and "conflict false alarms" in md
    console = report.console_table(summary)
    assert console.index("hybrid test") < console.index("hybrid dev")


def test_split_all_never_selects_train(monkeypatch: pytest.MonkeyPatch) -> None:
    questions = [Question(f"q{i}", "?", ("x",), ("a",), "squad2", split)
                 for i, split in enumerate(("train", "dev", "test", "train", "test"))]
    monkeypatch.setitem(eval_cli.LOADERS, "squad2", lambda: questions)
    assert [q.id for q in eval_cli.select_questions("squad2", "all")] == ["q1", "q2", "q4"]
    assert [q.id for q in eval_cli.select_questions("squad2", "test")] == ["q2", "q4"]
    assert eval_cli.CORPORA["squad2"]().parts[-2:] == ("squad-v2.0-dev", "corpus")
    assert citeqa(["eval", "--dataset", "squad2", "--gate"]) == 2  # parsed; the gate is gold only


def _gate_run(correct: int, wrong: int, invalid: int = 0) -> tuple[dict, list[dict]]:
    rows = [_row(f"r{i}", "test", ("4 May 1998",)) for i in range(correct)]
    rows += [_row(f"w{i}", "test", ("6 June 2001",)) for i in range(wrong)]
    for r in rows[:invalid]:
        r["citations_invalid"] = 1
    return report.build_summary(_run(rows, "test")), rows


BOUNDS = {"dataset": "gold", "split": "test", "mode": "hybrid",
          "minimums": {"answer_at_1": 0.85, "citation_validity": 1.0}, "maximums": {"errors": 0}}


def test_gate_tolerates_one_question_of_noise_not_two() -> None:
    one_short = _gate_run(correct=8, wrong=2)  # 0.80: one question under 0.85 * 10
    two_short = _gate_run(correct=7, wrong=3)  # 0.70: two questions under
    noisy = BOUNDS | {"tolerance": {"method": "one_question"}}
    passed = gate.check(*one_short, noisy)
    assert passed.passed
    assert "tolerance: one question" in passed.render()
    failed = gate.check(*two_short, noisy)
    assert [f.metric for f in failed.failures] == ["answer_at_1"]
    assert failed.failures[0].margin == pytest.approx(1 / 10)
    assert "one question of 10" in failed.render()
    exact = BOUNDS | {"tolerance": {"method": "exact"}}
    assert not gate.check(*one_short, exact).passed
    assert "every bound exact" in gate.check(*one_short, exact).render()


def test_gate_margin_is_one_over_the_metrics_own_question_count() -> None:
    _, rows = _gate_run(correct=3, wrong=1)
    rows.append(_row("u", "test", (), abstain=True))
    rows.append(_row("dev", "dev", ("4 May 1998",)))  # another split: never counted
    assert gate.noise_margin("answer_at_1", [r for r in rows if r["split"] == "test"],
                             BOUNDS) == pytest.approx(1 / 4)
    assert gate.noise_margin("abstention_recall", rows[:5], BOUNDS) == 1.0
    assert gate.noise_margin("ece", rows, BOUNDS) == 0.0  # not a per-question rate: exact
    assert gate.noise_margin("citation_validity", rows, BOUNDS) == 0.0  # an invariant


def test_gate_keeps_invariants_exact_and_reads_old_baselines() -> None:
    assert "tolerance" not in BOUNDS  # the format written before the noise margin existed
    summary, rows = _gate_run(correct=10, wrong=0, invalid=1)
    verdict = gate.check(summary, rows, BOUNDS)  # defaults to the one-question margin
    assert [f.metric for f in verdict.failures] == ["citation_validity"]
    assert verdict.failures[0].margin == 0.0 and "(exact)" in verdict.render()
    assert gate.tolerance_method(BOUNDS) == gate.ONE_QUESTION
    raised = gate.raised_baseline(summary, BOUNDS | {"tolerance": {"method": "one_question"}})
    assert raised["tolerance"] == {"method": "one_question"}  # kept when raised


def test_committed_baseline_states_its_tolerance() -> None:
    baseline = gate.load_baseline()
    assert baseline["tolerance"]["method"] == gate.ONE_QUESTION
    assert set(gate.EXACT) <= set(baseline["tolerance"]["exact"])
    assert "1/n" in baseline["note"]
