"""The report's charts as PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

MODE_COLOURS = {"hybrid": "#1f77b4", "dense": "#ff7f0e", "bm25": "#2ca02c"}


def _figure(width: float = 7.0, height: float = 3.6) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def per_kind_bars(
    per_kind: Mapping[str, Mapping[str, Mapping[str, Any]]], metric: str, label: str
) -> bytes:
    """Grouped bars: ``metric`` per question kind, one bar per mode."""
    modes = list(per_kind)
    kinds = sorted({k for by_kind in per_kind.values() for k in by_kind})
    fig = _figure(max(6.0, 0.9 * len(kinds) * max(1, len(modes)) / 1.5 + 2), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        values = [(per_kind[mode].get(kind) or {}).get(metric) or 0.0 for kind in kinds]
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(kinds))]
        ax.bar(xs, values, width, label=mode, color=MODE_COLOURS.get(mode))
    ax.set_xticks(range(len(kinds)), kinds, rotation=30, ha="right")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel(label)
    ax.set_title(f"{label} per question kind")
    ax.legend(fontsize="small", loc="upper center", ncol=len(modes))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def reliability_diagram(bins_by_mode: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """Accuracy against mean confidence per confidence bin, with the diagonal of perfect
    calibration; the lower panel shows how many questions fall into each bin."""
    fig = _figure(6.0, 5.5)
    ax, counts = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    n_modes = max(1, len(bins_by_mode))
    for i, (mode, bins) in enumerate(bins_by_mode.items()):
        filled = [b for b in bins if b["count"]]
        ax.plot(
            [b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker="o",
            label=mode, color=MODE_COLOURS.get(mode),
        )
        width = 0.1 / n_modes
        counts.bar(
            [b["lower"] + width * (i + 0.5) for b in bins], [b["count"] for b in bins], width,
            color=MODE_COLOURS.get(mode),
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy of best candidate")
    ax.set_title("Reliability diagram (10 bins)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    counts.set_xlabel("confidence")
    counts.set_ylabel("questions")
    return _png(fig)


def latency_histogram(latencies_by_mode: Mapping[str, Sequence[float]]) -> bytes:
    """Per-question latency (milliseconds) per mode, overlaid histograms."""
    fig = _figure()
    ax = fig.add_subplot()
    everything = [v for values in latencies_by_mode.values() for v in values]
    top = max(everything) if everything else 1.0
    bins = [top * i / 40 for i in range(41)]
    for mode, values in latencies_by_mode.items():
        ax.hist(values, bins=bins, alpha=0.55, label=mode, color=MODE_COLOURS.get(mode))
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Latency")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _png(fig)


def metric_bars(values_by_mode: Mapping[str, Mapping[str, float | None]], title: str) -> bytes:
    """Grouped bars of a few metrics (x) per mode: the retrieval-only overview."""
    modes = list(values_by_mode)
    names = sorted({n for values in values_by_mode.values() for n in values})
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [values_by_mode[mode].get(n) or 0.0 for n in names], width, label=mode,
               color=MODE_COLOURS.get(mode))
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.15)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper center", ncol=len(modes))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
