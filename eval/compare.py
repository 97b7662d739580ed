"""What changed between two runs: per question (rows matched by id and mode) and per metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Metrics where lower is better; every other compared metric is higher-is-better.
LOWER_IS_BETTER = {"false_abstention_rate", "conflict_false_alarm_rate", "ece", "errors"}
COMPARED = (
    "accuracy", "answer_at_1", "exact_span", "span_em", "span_f1", "conflict_false_alarm_rate",
    "conflict_recall", "hit_at_1", "hit_at_5", "mrr",
    "passage_recall_at_1", "passage_recall_at_5", "doc_accuracy_at_1", "doc_recall_at_5",
    "ndcg_at_10", "recall_at_10", "recall_at_100", "citation_validity", "answer_grounding",
    "abstention_precision", "abstention_recall", "false_abstention_rate", "ece", "errors",
)
EPS = 1e-9


def _short(text: Any, limit: int = 100) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"error: {_short(row['error'], 60)}"
    if row.get("abstained"):
        return "(abstained)"
    return _short(row.get("answer"))


def _rank(row: dict[str, Any]) -> int | None:
    return row.get("first_passage_rank", row.get("first_hit_rank"))


def _changes(before: dict[str, Any], now: dict[str, Any]) -> tuple[list[dict[str, str]], bool]:
    """(what got worse, whether anything got better) for one question in one mode."""
    worse: list[dict[str, str]] = []
    better = False
    if "correct" in now:  # answer rows
        if before.get("correct") and not now["correct"]:
            worse.append({"change": "now wrong", "before": _verdict(before), "now": _verdict(now)})
        better |= bool(not before.get("correct") and now["correct"])
        r0, r1 = _rank(before), _rank(now)
        if r0 is not None and (r1 is None or r1 > r0):
            worse.append({"change": "first hit lower", "before": f"rank {r0}",
                          "now": f"rank {r1}" if r1 else "no hit"})
        better |= r1 is not None and (r0 is None or r1 < r0)
        if now.get("citations_invalid", 0) > before.get("citations_invalid", 0):
            worse.append({"change": "invalid citations",
                          "before": str(before.get("citations_invalid", 0)),
                          "now": "; ".join(now.get("citation_problems", []))[:200]})
    for key in ("ndcg_at_10", "recall_at_100"):  # document rankings
        if key in now and before.get(key) is not None and now[key] is not None:
            if now[key] < before[key] - EPS:
                worse.append({"change": f"{key} down", "before": f"{before[key]:.3f}",
                              "now": f"{now[key]:.3f}"})
            better |= now[key] > before[key] + EPS
    return worse, better


def diff_rows(
    previous: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
) -> dict[str, list[Any]]:
    """Per-question changes, rows matched by (id, mode).

    ``worse``: one entry per (question, mode, change) — a right answer now wrong, the first hitting
    citation (or passage) at a lower rank or gone, more invalid citations, a document ranking with
    lower nDCG@10 / recall@100. ``better``: (id, mode) pairs that improved on any of these.
    ``missing`` / ``new``: (id, mode) pairs in only one of the two runs."""
    before = {(r["id"], r["mode"]): r for r in previous}
    now = {(r["id"], r["mode"]): r for r in current}
    worse, better = [], []
    for key, row in now.items():
        if key not in before:
            continue
        changes, improved = _changes(before[key], row)
        for change in changes:
            worse.append({"id": row["id"], "mode": row["mode"], "kind": row.get("kind", ""),
                          "question": row.get("question", ""), **change})
        if improved and not changes:
            better.append(list(key))
    return {
        "worse": worse,
        "better": better,
        "missing": [list(k) for k in before if k not in now],
        "new": [list(k) for k in now if k not in before],
    }


def metric_deltas(previous: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed overall metrics per mode present in both summaries, worst change first (a change
    is signed so that negative is worse)."""
    out = []
    for mode, values in current.get("metrics", {}).items():
        old = previous.get("metrics", {}).get(mode)
        if not old:
            continue
        for metric in COMPARED:
            a, b = old.get(metric), values.get(metric)
            if a is None or b is None or abs(b - a) <= EPS:
                continue
            signed = (a - b) if metric in LOWER_IS_BETTER else (b - a)
            out.append({"metric": metric, "mode": mode, "before": a, "now": b, "change": signed})
    return sorted(out, key=lambda d: (d["change"], d["mode"], d["metric"]))
