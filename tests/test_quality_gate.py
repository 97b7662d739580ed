"""The quality gate of ``make test``: the seed gold TEST split, asked in-process with the real model
against an index built from seeds/ in a temporary directory, must meet every bound of
eval/baseline.json. A failure names each metric below its minimum and the questions behind it
(REGRESSED: the question passed in the committed report, eval/results/gold).

The run's report is left in test-artifacts/quality-gate/ for inspection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import gate, report
from eval.datasets import load_gold
from eval.harness import EngineTarget, run
from index.embed import Encoder
from retriever.answer_model import AnswerModel
from retriever.engine import Engine, EngineParams
from retriever.weights import ScoringModel

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "quality-gate"

pytestmark = pytest.mark.slow


def test_baseline_is_well_formed() -> None:
    baseline = gate.load_baseline()
    assert (baseline["dataset"], baseline["split"], baseline["mode"]) == ("gold", "test", "hybrid")
    assert baseline["minimums"]["citation_validity"] == 1.0
    for metric in ("answer_at_1", "hit_at_5", "abstention_recall"):
        assert 0.0 <= baseline["minimums"][metric] <= 1.0
    assert 0.0 <= baseline["maximums"]["false_abstention_rate"] <= 1.0
    for metric, bound in baseline.get("measured", {}).items():  # never set above a measurement
        if bound is None:
            continue
        if metric in baseline["minimums"]:
            assert baseline["minimums"][metric] <= bound, metric
        else:
            assert baseline["maximums"][metric] >= bound, metric


def test_seed_gold_test_split_meets_the_baseline(
    seed_index: Path, real_encoder: Encoder, answer_model: AnswerModel
) -> None:
    # seed_index (tests/conftest.py): seeds/ ingested with the real model into a tmp dir, once
    # per session; this engine gets the bundled weights and default parameters.
    engine = Engine.open(
        seed_index, real_encoder, ScoringModel.load(), EngineParams(), reader=answer_model
    )
    questions = [q for q in load_gold() if q.split == "test"]
    result = run(questions, EngineTarget(engine), dataset="gold", split="test",
                 modes=["hybrid"], progress=False)
    summary = report.write_results(result, ARTIFACTS)
    reference_rows = gate.REFERENCE_RUN / "rows.jsonl"
    reference = report.read_rows(reference_rows) if reference_rows.is_file() else None
    verdict = gate.check(summary, result.rows, gate.load_baseline(), reference)
    if not verdict.passed:
        pytest.fail(f"{verdict.render()}\n(report: {ARTIFACTS / 'report.md'})", pytrace=False)
