"""Docstrings state contracts, not measurements.

A figure from one run ("~15 s", "2.6 ms", "on this 2-core box", "1.5x faster") goes stale the day
the code or the machine changes, and nothing re-checks it; measured figures belong in the reports
under eval/results/. An AST scan of every module, class and function docstring in the packages
flags the shapes such figures take, while contracts ("a timeout in seconds", "at most 16_384
bytes", "Slack's 3 s", "5 posts within 30 minutes") pass.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("index", "service", "retriever", "eval", "cluster")
_NUMBER = r"(?<![\w.])\d[\d,_]*(?:\.\d+)?"
# What a measured figure looks like, each with the reason it is refused.
MEASUREMENTS = {
    "a time in ms/µs (a measured latency)": re.compile(rf"{_NUMBER}\s?(?:ms|µs|us|ns)\b"),
    "a fractional time in seconds (a measured duration)": re.compile(
        r"(?<![\w.])\d+\.\d+\s?(?:s|sec|seconds)\b"),
    "an approximate figure (~, ≈)": re.compile(r"[~≈]\s?\d"),
    "a speed-up or ratio (Nx)": re.compile(rf"{_NUMBER}\s?[x×](?!\w)(?!\s*\d)"),
    "a percentage": re.compile(rf"{_NUMBER}\s?%"),
    "a memory reading (RSS, peak)": re.compile(
        r"\b(?:RSS|peak)\b[^.\d]{0,12}\d|\d\s?(?:KB|MB|GB|KiB|MiB|GiB)\s+(?:of\s+)?(?:RSS|peak)\b"),
    "a latency percentile with its value": re.compile(r"\bp(?:50|90|95|99)\b\W{0,3}\d"),
    "the machine it was measured on": re.compile(
        r"\bthis (?:box|laptop)\b|\b\d+-core\b|\bmeasured (?:on this|here)\b", re.IGNORECASE),
}


def _docstrings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of the module's docstring and of every class and function in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                yield (node.body[0].lineno, text)


def _figures(text: str) -> Iterator[tuple[str, str]]:
    """(reason, the matched text) for every measured-looking figure in ``text``."""
    for reason, pattern in MEASUREMENTS.items():
        for match in pattern.finditer(text):
            yield reason, match.group()


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if not {".venv", "results"} & set(path.relative_to(REPO).parts):
                yield path


def test_no_docstring_carries_a_measured_figure() -> None:
    found = [
        f"{path.relative_to(REPO).as_posix()}:{line}: {reason}: {figure!r}"
        for path in _sources()
        for line, text in _docstrings(path)
        for reason, figure in _figures(text)
    ]
    assert found == [], "move these figures to a report under eval/results/:\n" + "\n".join(found)


@pytest.mark.parametrize("text", [
    "Embedding one question takes ~15 s on first use.",
    "A lookup costs 2.6 ms.",
    "p50 12 ms at 8 clients.",
    "Build finished in 72.6 s.",
    "Measured on this 2-core box.",
    "The int8 backend is 1.5x faster.",
    "It is 3× quicker than the baseline.",
    "Text-level parallelism costs 10-15% less CPU.",
    "The process peaks at RSS 1352 MB.",
    "It reached 290 MB of RSS.",
    "cold start p95: 2.5 s",
])
def test_measured_figures_are_flagged(text: str) -> None:
    assert list(_figures(text)), text


@pytest.mark.parametrize("text", [
    "``timeout_s``: the timeout in seconds (None: no limit).",
    "Bodies are capped at 16_384 bytes; a bigger one is a 413.",
    "The slash command must be acknowledged within Slack's 3 s.",
    "Slack accepts 5 posts to one response_url within 30 minutes of the invocation.",
    "HMAC-SHA256 of ``v0:ts:body``, 5-minute window.",
    "The BM25 wrapper (bm25s) scores units; probes would turn into 503s.",
    "at least the PQ's 256 x 39 training points",
    "Returns an (n, 384) float32 array; ``k`` hits, 1-based ranks.",
    "A pointer such as 0x1F is not a ratio.",
    "recall@10 of at least TARGET_RECALL on the build's sample",
])
def test_contracts_are_not_flagged(text: str) -> None:
    assert list(_figures(text)) == [], text
