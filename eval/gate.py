"""The quality gate: a run's summary against ``eval/baseline.json`` (seed gold test split, hybrid).

Every metric in ``minimums`` must be >= its bound and every one in ``maximums`` <= its bound; a
metric that was not measured (None) fails. The gold test split is small (60 answerable questions),
so one question flipping moves answer@1 by 1/60: each bound is compared with a margin of one
question's worth, 1/n where n is the number of questions the metric is measured on in this run
(computed from the rows, never fitted). Invariants (``EXACT``: every citation valid, every answer
grounded, no errors) have no noise to tolerate and are compared exactly. A baseline may state
``"tolerance": {"method": "exact"}`` to switch the margin off; one without a ``tolerance`` key
(the older format) gets the one-question margin. A failure lists the questions behind it, and with a
reference run (the committed ``eval/results/gold``) marks those that passed there as regressed.
Minimums are raised as the system improves (``raised_baseline``), never lowered to let a change
through.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics

BASELINE_PATH = Path(__file__).with_name("baseline.json")
REFERENCE_RUN = Path(__file__).with_name("results") / "gold"
MARGIN = 0.005  # baselines sit at least this far inside the measured value, rounded to 0.01
ONE_QUESTION = "one_question"  # tolerance method: bound -/+ 1/n of the metric's questions
EXACT = ("citation_validity", "answer_grounding", "errors")  # contract, not sampling noise

Predicate = Callable[[dict[str, Any]], bool]
# metric -> (the rows it is measured on, the rows that count against it)
_FAILING: dict[str, tuple[Predicate, Predicate]] = {
    "answer_at_1": (lambda r: bool(r["gold_answers"]), lambda r: not r["answer_correct"]),
    "accuracy": (lambda r: True, lambda r: not r["correct"]),
    "exact_span": (lambda r: bool(r["gold_answers"]), lambda r: not r["span_exact"]),
    "span_em": (lambda r: bool(r["gold_answers"]), lambda r: (r.get("span_em") or 0.0) < 1.0),
    "span_f1": (lambda r: bool(r["gold_answers"]), lambda r: (r.get("span_f1") or 0.0) < 1.0),
    "conflict_false_alarm_rate": (
        lambda r: bool(metrics.answered([r])) and r["kind"] != "conflict",
        lambda r: bool(r.get("conflicts"))),
    "conflict_recall": (lambda r: r["kind"] == "conflict", lambda r: not r.get("conflicts")),
    "hit_at_5": (lambda r: bool(r["gold_answers"]),
                 lambda r: not metrics.hit_at(r["first_hit_rank"], 5)),
    "hit_at_1": (lambda r: bool(r["gold_answers"]),
                 lambda r: not metrics.hit_at(r["first_hit_rank"], 1)),
    "abstention_recall": (lambda r: not r["gold_answers"], lambda r: not r["abstained"]),
    "abstention_precision": (lambda r: r["abstained"], lambda r: bool(r["gold_answers"])),
    "false_abstention_rate": (lambda r: bool(r["gold_answers"]), lambda r: r["abstained"]),
    "citation_validity": (lambda r: True, lambda r: r["citations_invalid"] > 0),
    "answer_grounding": (lambda r: True, lambda r: bool(r["grounding_errors"])),
    "errors": (lambda r: True, lambda r: bool(r.get("error"))),
}


@dataclass
class Failure:
    metric: str
    value: float | None
    bound: float
    direction: str  # "min" or "max"
    questions: list[dict[str, Any]] = field(default_factory=list)
    margin: float = 0.0  # the noise tolerance applied to the bound (0: exact)
    measured_on: int | None = None  # n, the questions the metric is measured on


@dataclass
class GateResult:
    baseline: dict[str, Any]
    failures: list[Failure]

    @property
    def passed(self) -> bool:
        return not self.failures

    def render(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"quality gate: {verdict} ({describe_tolerance(self.baseline)})"]
        for f in self.failures:
            op = ">=" if f.direction == "min" else "<="
            sign = "-" if f.direction == "min" else "+"
            allowed = (f" {sign} {f.margin:.4f} (one question of {f.measured_on})"
                       if f.margin else " (exact)")
            lines.append(f"  {f.metric} = {_fmt(f.value)}, required {op} {f.bound}{allowed}")
            for q in f.questions:
                tag = "REGRESSED " if q["regressed"] else ""
                lines.append(f"    - {tag}{q['id']} [{q['kind']}] {q['question'][:90]}"
                             f" -> {q['got']}")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.4f}"


def load_baseline(path: Path = BASELINE_PATH) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def tolerance_method(baseline: dict[str, Any]) -> str:
    """"one_question" (the default, also for baselines written before the key existed) or
    "exact"."""
    return str((baseline.get("tolerance") or {}).get("method", ONE_QUESTION))


def exact_metrics(baseline: dict[str, Any]) -> tuple[str, ...]:
    """Metrics compared without a margin: the baseline's list, else ``EXACT``."""
    return tuple((baseline.get("tolerance") or {}).get("exact", EXACT))


def describe_tolerance(baseline: dict[str, Any]) -> str:
    if tolerance_method(baseline) != ONE_QUESTION:
        return "tolerance: none, every bound exact"
    return ("tolerance: one question, each bound -/+ 1/n of the questions its metric is "
            f"measured on; exact for {', '.join(exact_metrics(baseline))}")


def questions_measured(metric: str, rows: Sequence[dict[str, Any]]) -> int | None:
    """n for ``metric``: how many of ``rows`` it is measured on (None: not a per-question rate)."""
    if metric not in _FAILING:
        return None
    applies, _ = _FAILING[metric]
    return sum(1 for r in rows if applies(r))


def noise_margin(metric: str, rows: Sequence[dict[str, Any]], baseline: dict[str, Any]) -> float:
    """One question's worth of ``metric`` on ``rows`` (1/n), or 0.0 where the comparison is exact
    (exact method, an invariant, a metric that is not a per-question rate, or n = 0)."""
    if tolerance_method(baseline) != ONE_QUESTION or metric in exact_metrics(baseline):
        return 0.0
    n = questions_measured(metric, rows)
    return 1.0 / n if n else 0.0


def _got(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"error {row['error'][:80]}"
    if row.get("citation_problems") or row.get("grounding_errors"):
        return "; ".join(row.get("citation_problems", []) + row.get("grounding_errors", []))[:160]
    if row["abstained"]:
        return "(abstained)"
    return f"“{(row['answer'] or '')[:110]}” (conf {row['confidence']:.2f})"


def failing_questions(
    metric: str, rows: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The questions counting against ``metric``, regressed ones (passing in ``reference``, same
    id and mode) first."""
    if metric not in _FAILING:
        return []
    applies, fails = _FAILING[metric]
    before = {(r["id"], r["mode"]): r for r in reference or []}
    out = []
    for row in rows:
        if applies(row) and fails(row):
            old = before.get((row["id"], row["mode"]))
            regressed = old is not None and applies(old) and not fails(old)
            out.append({"id": row["id"], "kind": row["kind"], "question": row["question"],
                        "got": _got(row), "regressed": regressed})
    return sorted(out, key=lambda q: (not q["regressed"], q["id"]))


def check(
    summary: dict[str, Any], rows: Sequence[dict[str, Any]], baseline: dict[str, Any],
    reference: Sequence[dict[str, Any]] | None = None,
) -> GateResult:
    """Compare the baseline's mode of ``summary`` with its bounds, each widened by its noise
    margin (rows of that mode and of the baseline's split only)."""
    mode = baseline.get("mode", "hybrid")
    if summary["dataset"] != baseline["dataset"] or summary["split"] != baseline["split"]:
        raise ValueError(f"the baseline is for {baseline['dataset']}/{baseline['split']}, the run "
                         f"is {summary['dataset']}/{summary['split']}")
    if mode not in summary["metrics"]:
        raise ValueError(f"the run has no {mode} mode, which the baseline is for")
    values = summary["metrics"][mode]
    mode_rows = [r for r in rows
                 if r["mode"] == mode and r.get("split", baseline["split"]) == baseline["split"]]
    failures = []
    for direction, bounds in (("min", baseline.get("minimums", {})),
                              ("max", baseline.get("maximums", {}))):
        for metric, bound in bounds.items():
            value = values.get(metric)
            margin = noise_margin(metric, mode_rows, baseline)
            bad = value is None or (value < bound - margin - 1e-9 if direction == "min"
                                    else value > bound + margin + 1e-9)
            if bad:
                failures.append(Failure(metric, value, bound, direction,
                                        failing_questions(metric, mode_rows, reference),
                                        margin, questions_measured(metric, mode_rows)))
    return GateResult(baseline, failures)


def raised_baseline(summary: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """A baseline raised to just inside this run's values (MARGIN, rounded to 0.01): minimums
    only go up and maximums only go down; 1.0 minimums (citation validity) stay exact."""
    values = summary["metrics"][baseline.get("mode", "hybrid")]
    out = json.loads(json.dumps(baseline))
    for metric, bound in baseline.get("minimums", {}).items():
        value = values.get(metric)
        if value is not None and bound < 1.0:
            out["minimums"][metric] = max(bound, math.floor((value - MARGIN) * 100) / 100)
    for metric, bound in baseline.get("maximums", {}).items():
        value = values.get(metric)
        if value is not None and bound > 0:
            out["maximums"][metric] = min(bound, math.ceil((value + MARGIN) * 100) / 100)
    out["measured"] = {m: values.get(m) for m in (*out.get("minimums", {}),
                                                   *out.get("maximums", {}))}
    out["measured_on"] = {"index_versions": summary.get("index_versions"),
                          "weights": summary.get("weights_version"),
                          "created": summary.get("created")}
    return dict(out)
