"""Where the time of an in-process ask goes: pyinstrument over a run of distinct questions.

The full call tree is written as text; the report quotes the functions with the most time of
their own (self time summed over the tree), which is what an optimiser wants first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HotSpot:
    function: str  # "name (file:line)"
    self_ms: float
    share: float  # of the profiled time


@dataclass(frozen=True)
class Profile:
    corpus: str
    questions: int
    total_ms: float
    hotspots: list[HotSpot]
    tree_path: str | None  # the text call tree, when written


def _self_times(frame: Any, into: dict[str, float]) -> None:
    """Self time per function; a frame's synthetic children ([self], [await]) are part of it."""
    path = Path(frame.file_path_short or "?").as_posix().removeprefix("../")
    key = f"{frame.function} ({path}:{frame.line_no})"
    into[key] = into.get(key, 0.0) + frame.total_self_time
    for child in frame.children:
        if not child.is_synthetic:
            _self_times(child, into)


def profile_asks(engine: Any, questions: Sequence[str], corpus: str,
                 tree_out: Path | None = None, top: int = 15) -> Profile | None:
    """None when pyinstrument is not installed (it comes with the ``bench`` extra)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for question in questions:
        engine.ask(question)
    session = profiler.stop()
    root = session.root_frame()
    if root is None:
        return None
    times: dict[str, float] = {}
    _self_times(root, times)
    total = root.time
    ranked = sorted(times.items(), key=lambda kv: -kv[1])[:top]
    if tree_out is not None:
        tree_out.parent.mkdir(parents=True, exist_ok=True)
        tree_out.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    return Profile(
        corpus, len(questions), round(total * 1e3, 1),
        [HotSpot(name, round(t * 1e3, 1), round(t / total, 3) if total else 0.0)
         for name, t in ranked],
        str(tree_out) if tree_out else None,
    )
