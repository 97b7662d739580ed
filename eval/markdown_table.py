"""One markdown (GitHub) table renderer for every report in eval/."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


def plain_cell(value: Any) -> str:
    """A cell as written: None is an empty cell."""
    return "" if value is None else str(value)


def escaped_cell(value: Any) -> str:
    """A cell from free text (questions, answers): a pipe or newline would break the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[Any], rows: Iterable[Sequence[Any]],
    cell: Callable[[Any], str] = plain_cell,
) -> list[str]:
    """The table's lines: header, the ``|---|`` rule, then one line per row; ``cell`` turns each
    header and row value into text. No trailing blank line (callers add their own spacing)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines
