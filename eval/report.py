"""A run's results folder: summary.json, rows.jsonl, report.md, report.html (+ the charts as PNG),
the "what got worse" diff against a previous run, and the one-screen table for the terminal."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import metrics, plots
from .compare import diff_rows, metric_deltas
from .harness import EvalRun
from .markdown_table import escaped_cell, markdown_table

# (summary key, label); a key with a dot reads a nested value ("latency_ms.p50").
QA_TABLE = [
    ("questions", "questions"), ("unanswerable", "unanswerable questions"),
    ("accuracy", "overall correctness (all questions)"), ("answer_at_1", "answer@1"),
    ("exact_span", "exact span"), ("span_em", "span EM (SQuAD)"), ("span_f1", "span F1 (SQuAD)"),
    ("median_quote_chars", "median quote length (chars)"),
    ("conflict_false_alarm_rate", "conflict false alarms"), ("conflict_recall", "conflict recall"),
    ("hit_at_1", "hit@1"), ("hit_at_5", "hit@5"),
    ("hit_at_10", "hit@10"), ("mrr", "MRR"), ("passage_recall_at_1", "passage recall@1"),
    ("passage_recall_at_5", "passage recall@5"), ("passage_recall_at_10", "passage recall@10"),
    ("doc_accuracy_at_1", "doc accuracy@1"), ("doc_recall_at_5", "doc recall@5"),
    ("ndcg_at_10", "doc nDCG@10"), ("citation_validity", "citation validity"),
    ("answer_grounding", "answer grounding"), ("abstention_precision", "abstention precision"),
    ("abstention_recall", "abstention recall"), ("false_abstention_rate", "false abstention"),
    ("ece", "calibration ECE"), ("latency_ms.p50", "latency p50 ms"),
    ("latency_ms.p95", "latency p95 ms"), ("errors", "errors"),
]
RETRIEVAL_TABLE = [
    ("ndcg_at_10", "nDCG@10"), ("recall_at_10", "recall@10"), ("recall_at_100", "recall@100"),
    ("mrr", "MRR"), ("latency_ms.p50", "latency p50 ms"), ("latency_ms.p95", "latency p95 ms"),
    ("errors", "errors"),
]
KIND_COLUMNS = [
    ("questions", "n"), ("accuracy", "accuracy"), ("answer_at_1", "answer@1"),
    ("span_f1", "span F1"),
    ("hit_at_5", "hit@5"), ("abstention_rate", "abstained"), ("ece", "ECE"),
    ("latency_ms.p50", "p50 ms"),
]
MAX_LISTED = 200
CONSOLE_WORSE = 8


def lookup(values: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        values = values.get(part) if isinstance(values, dict) else None  # type: ignore[assignment]
    return values


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def build_summary(run: EvalRun) -> dict[str, Any]:
    """summary.json: run facts, then per mode the headline metrics (``metrics``: the test split
    whenever the run has test questions), the metrics per split (test, dev, and "all" = both),
    per-kind metrics and reliability-diagram bins of the headline split. Rows of split "train"
    never enter any figure."""
    summarize = metrics.summarize_retrieval if run.task == "retrieval" else metrics.summarize_qa
    kept = metrics.reported(run.rows)
    headline = metrics.headline_split(kept)
    all_by_mode = {m: [r for r in kept if r["mode"] == m] for m in run.modes}
    by_mode = {m: [r for r in rows if r.get("split") == headline]
               for m, rows in all_by_mode.items()}
    first = all_by_mode[run.modes[0]] if run.modes else []
    summary: dict[str, Any] = {
        "dataset": run.dataset, "split": run.split, "task": run.task, "target": run.target,
        "modes": run.modes, "top_k": run.top_k,
        "questions": len(first),
        "headline_split": headline,
        "split_questions": {s: sum(r.get("split") == s for r in first)
                            for s in metrics.REPORTED_SPLITS if any(r.get("split") == s
                                                                    for r in first)},
        "excluded_train_questions": len({r["id"] for r in run.rows if r.get("split") == "train"}),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": run.seconds,
        "index_versions": sorted({str(v) for v in [run.index_version]
                                  + [r.get("index_version") for r in run.rows] if v}),
        "weights_version": run.weights_version,
        "missing_docs": run.missing_docs,
        "metrics": {m: summarize(rows) for m, rows in by_mode.items()},
        "per_split": {m: metrics.by_split(rows, summarize) for m, rows in all_by_mode.items()},
        "per_kind": {m: metrics.by_kind(rows, summarize) for m, rows in by_mode.items()},
    }
    if run.task == "qa":
        summary["reliability"] = {
            m: metrics.reliability(
                [r["confidence"] for r in rows if not r.get("error")],
                [r["calibration_outcome"] for r in rows if not r.get("error")],
            )
            for m, rows in by_mode.items()
        }
    return summary


def _columns(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(header, metrics) per column: each mode's splits, test first and dev beside it; a
    one-split run has one column per mode, headed by the mode."""
    columns = []
    for mode in summary["modes"]:
        per_split = summary.get("per_split", {}).get(mode) or {None: summary["metrics"][mode]}
        splits = [s for s in per_split if s != "all"]
        for split in splits:
            header = mode if len(splits) == 1 else f"{mode} {split}"
            columns.append((header, per_split[split]))
    return columns


def summary_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    spec = RETRIEVAL_TABLE if summary["task"] == "retrieval" else QA_TABLE
    columns = _columns(summary)
    table = []
    for key, label in spec:
        values = [lookup(values, key) for _, values in columns]
        if any(v is not None for v in values) or key == "errors":
            table.append([label, *(fmt(v) for v in values)])
    return ["metric", *(header for header, _ in columns)], table


def split_note(summary: dict[str, Any]) -> str:
    """One sentence on which questions the figures cover (printed under every summary)."""
    counts = ", ".join(f"{s} {n}" for s, n in summary.get("split_questions", {}).items())
    excluded = summary.get("excluded_train_questions", 0)
    return (f"Headline figures: the {summary.get('headline_split') or '–'} split (questions: "
            f"{counts or '–'}); test leads, dev is shown beside it. Questions of split train are "
            f"never evaluated or reported ({excluded} left out of this run).")


def console_table(summary: dict[str, Any]) -> str:
    """The one-screen summary printed when a run ends."""
    headers, table = summary_table(summary)
    widths = [max(len(str(row[i])) for row in [headers, *table]) for i in range(len(headers))]
    line = lambda cells: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(
            zip(cells, widths, strict=True))
    )
    title = (f"citeqa eval — {summary['dataset']} ({summary['split']}, "
             f"{summary['questions']} questions) — {summary['target']}")
    out = [title, line(headers), line(["-" * w for w in widths]), *(line(r) for r in table),
           split_note(summary)]
    if summary.get("compare"):
        c = summary["compare"]
        out.append(f"vs {c['previous']}: {c['worse']} got worse, {c['better']} got better")
        for w in c["worse_questions"][:CONSOLE_WORSE]:
            out.append(f"  worse: {w['id']} [{w['mode']}] {w['change']}: {w['before']} -> "
                       f"{w['now']}"[:160])
        if c["worse"] > CONSOLE_WORSE:
            out.append(f"  … {c['worse'] - CONSOLE_WORSE} more in report.md")
    if summary.get("missing_docs"):
        missing = ", ".join(summary["missing_docs"])
        out.append(f"warning: gold documents not in the index: {missing}")
    return "\n".join(out)


# ---- report blocks (rendered to Markdown and HTML alike) -------------------------------------

Block = tuple[Any, ...]  # ("h2", text) | ("p", text) | ("table", headers, rows) | ("img", name)


def _charts(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    modes = summary["modes"]
    latencies = {m: [r["latency_ms"] for r in rows if r["mode"] == m and r.get("latency_ms")]
                 for m in modes}
    charts = {"latency.png": plots.latency_histogram(latencies)}
    if summary["task"] == "retrieval":
        charts["retrieval.png"] = plots.metric_bars(
            {m: {k: summary["metrics"][m][k] for k in ("ndcg_at_10", "recall_at_10",
                                                       "recall_at_100")} for m in modes},
            "Retrieval per mode",
        )
    else:
        charts["per_kind_accuracy.png"] = plots.per_kind_bars(
            summary["per_kind"], "accuracy", "accuracy")
        charts["reliability.png"] = plots.reliability_diagram(summary["reliability"])
    return charts


def _blocks(
    summary: dict[str, Any], rows: Sequence[dict[str, Any]], diff: dict[str, Any] | None,
    charts: dict[str, bytes],
) -> list[Block]:
    modes, first = summary["modes"], summary["modes"][0]
    blocks: list[Block] = [
        ("h1", f"citeqa evaluation: {summary['dataset']} ({summary['split']} split)"),
        ("p", f"{summary['questions']} questions, modes {', '.join(modes)}, target "
              f"{summary['target']}, index {', '.join(summary['index_versions']) or '–'}, "
              f"weights {summary.get('weights_version') or '–'}, "
              f"{summary['created']}. Run time (s): "
              + ", ".join(f"{m} {s}" for m, s in summary["seconds"].items())),
        ("h2", "Summary"), ("p", split_note(summary)), ("table", *summary_table(summary)),
    ]
    if summary.get("missing_docs"):
        blocks.append(("p", "Warning: gold documents missing from the index: "
                       + ", ".join(summary["missing_docs"])))
    if summary["task"] == "qa":
        kinds = sorted(summary["per_kind"][first])
        head = summary.get("headline_split") or "–"
        if len(kinds) > 1:
            blocks += [("h2", f"Per kind (accuracy by mode, {head} split)"),
                       ("table", ["kind", *modes], [
                [k, *(fmt(lookup(summary["per_kind"][m].get(k, {}), "accuracy")) for m in modes)]
                for k in kinds
            ]), ("img", "per_kind_accuracy.png")]
        blocks += [("h2", f"Per kind ({first}, {head} split)"),
                   ("table", ["kind", *[c for _, c in KIND_COLUMNS]],
                    [[k, *(fmt(lookup(summary["per_kind"][first][k], key))
                           for key, _ in KIND_COLUMNS)] for k in kinds])]
        calibration_headers = ["bin", *[f"{m} n / conf / acc" for m in modes]]
        blocks += [("h2", f"Calibration ({head} split)"), ("table", calibration_headers, [
            [f"{b['lower']:.1f}–{b['upper']:.1f}", *(
                "{} / {} / {}".format(
                    summary["reliability"][m][i]["count"],
                    fmt(summary["reliability"][m][i]["confidence"]),
                    fmt(summary["reliability"][m][i]["accuracy"]))
                for m in modes)]
            for i, b in enumerate(summary["reliability"][first])
        ]), ("img", "reliability.png")]
    else:
        blocks.append(("img", "retrieval.png"))
    blocks += [("h2", "Latency"), ("img", "latency.png")]
    if diff is not None:
        blocks += _diff_blocks(summary, diff)
    blocks += _failure_blocks(summary, rows, first)
    return blocks


def _diff_blocks(summary: dict[str, Any], diff: dict[str, Any]) -> list[Block]:
    out: list[Block] = [("h2", f"What got worse (vs {summary['compare']['previous']})")]
    if summary["compare"].get("deltas"):
        out.append(("table", ["metric", "mode", "before", "now", "change (+ better)"], [
            [d["metric"], d["mode"], fmt(d["before"]), fmt(d["now"]), f"{d['change']:+.3f}"]
            for d in summary["compare"]["deltas"]
        ]))
    worse = diff["worse"]
    out.append(("p", f"{len(worse)} question(s) got worse, {len(diff['better'])} got better; "
                     f"{len(diff['missing'])} missing from this run, {len(diff['new'])} new."))
    if worse:
        out.append(("table", ["id", "mode", "kind", "change", "before", "now"], [
            [w["id"], w["mode"], w["kind"], w["change"], w["before"], w["now"]]
            for w in worse[:MAX_LISTED]
        ]))
    return out


def _failure_blocks(
    summary: dict[str, Any], rows: Sequence[dict[str, Any]], mode: str
) -> list[Block]:
    if summary["task"] == "retrieval":
        bad = [r for r in rows
               if r["mode"] == mode and r["gold_docs"] and not r["ndcg_at_10"]]
        return [("h2", f"No relevant document in the top 10 ({mode}): {len(bad)}"),
                ("table", ["id", "question", "relevant", "top 3"], [
                    [r["id"], r["question"][:120], " ".join(r["gold_docs"]),
                     " ".join(r["ranked_docs"][:3])] for r in bad[:MAX_LISTED]])]
    bad = [r for r in rows if r["mode"] == mode and not r["correct"]]
    invalid = [r for r in rows if r.get("citation_problems") or r.get("grounding_errors")]
    out: list[Block] = [("h2", f"Wrong answers ({mode}): {len(bad)}"), ("table",
        ["id", "split", "kind", "question", "gold", "answer", "conf"], [
            [r["id"], r.get("split", ""), r["kind"], r["question"][:120],
             " | ".join(r["gold_answers"])[:80] or "—",
             r.get("error") or ("(abstained)" if r["abstained"] else (r["answer"] or "")[:160]),
             fmt(r["confidence"])]
            for r in bad[:MAX_LISTED]])]
    if invalid:
        out += [("h2", f"Citation or grounding problems: {len(invalid)} row(s)"), ("table",
                 ["id", "mode", "problems"], [
                     [r["id"], r["mode"], "; ".join(r["citation_problems"] + r["grounding_errors"])]
                     for r in invalid[:MAX_LISTED]])]
    return out


def _render_md(blocks: list[Block]) -> str:
    out = []
    for block in blocks:
        if block[0] == "h1":
            out.append(f"# {block[1]}\n")
        elif block[0] == "h2":
            out.append(f"## {block[1]}\n")
        elif block[0] == "p":
            out.append(f"{block[1]}\n")
        elif block[0] == "img":
            out.append(f"![{block[1]}]({block[1]})\n")
        elif block[0] == "table":
            lines = markdown_table(block[1], block[2], cell=escaped_cell)
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _render_html(blocks: list[Block], charts: dict[str, bytes], title: str) -> str:
    e = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
           "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
           "padding:0 1em}table{border-collapse:collapse;margin:1em 0;font-size:14px}"
           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
           "th{background:#f3f3f3}img{max-width:100%}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind}>{e(str(block[1]))}</{kind}>")
        elif kind == "img":
            data = base64.b64encode(charts[block[1]]).decode()
            out.append(f"<img alt='{e(block[1])}' src='data:image/png;base64,{data}'>")
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in block[1]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>"
                    for row in block[2]]
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """rows.jsonl from a results folder (or the file itself)."""
    file = path / "rows.jsonl" if path.is_dir() else path
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line]


def write_results(
    run: EvalRun, out_dir: Path, *, previous: Path | None = None
) -> dict[str, Any]:
    """Write the results folder and return the summary. ``previous``: a results folder (or its
    rows.jsonl) to diff against; it is read before anything in ``out_dir`` is replaced."""
    summary = build_summary(run)
    rows = metrics.reported(run.rows)  # train rows are not written, diffed or listed either
    diff = None
    if previous is not None:
        prev_rows = read_rows(previous)
        prev_dir = previous if previous.is_dir() else previous.parent
        prev_summary_path = prev_dir / "summary.json"
        prev_summary = (json.loads(prev_summary_path.read_text())
                        if prev_summary_path.is_file() else None)
        diff = diff_rows(metrics.reported(prev_rows), rows)
        summary["compare"] = {
            "previous": str(previous), "worse": len(diff["worse"]), "better": len(diff["better"]),
            "deltas": metric_deltas(prev_summary, summary) if prev_summary else [],
            "worse_questions": diff["worse"],
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = _charts(summary, rows)
    blocks = _blocks(summary, rows, diff, charts)
    title = f"citeqa eval {summary['dataset']} {summary['split']}"
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    with (out_dir / "rows.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    for name, png in charts.items():
        (out_dir / name).write_bytes(png)
    (out_dir / "report.md").write_text(_render_md(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(_render_html(blocks, charts, title), encoding="utf-8")
    return summary
