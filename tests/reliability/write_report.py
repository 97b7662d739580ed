"""Write eval/results/reliability.md from the figure lines the reliability tests appended to
$CITEQA_RELIABILITY_REPORT (one line per figure, starting with its matrix row id).

    python -m tests.reliability.write_report LINES_FILE OUT_MD [NOTE]

NOTE, when given, is printed under the heading (e.g. to say that a copy came from a partial run).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROWS = {
    "D": ("Index durability and integrity", [f"D{i}" for i in range(1, 11)]),
    "S": ("Serving under load and change", [f"S{i}" for i in range(1, 7)]),
    "A": ("API robustness and security", [f"A{i}" for i in range(1, 14)] + ["Hostile ingest"]),
}
_ROW_ID = re.compile(r"^(Hostile ingest|[DSA]\d+)\b")


def group(lines: list[str]) -> dict[str, list[str]]:
    """Figure lines by row id, in the order they were written; lines without an id are kept
    under "other"."""
    rows: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        line = line.strip()
        if line:
            match = _ROW_ID.match(line)
            rows[match.group(1) if match else "other"].append(line)
    return rows


def _commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def render(rows: dict[str, list[str]], *, commit: str, when: datetime, note: str = "") -> str:
    out = [
        "# Reliability and security figures",
        "",
        f"Written by `tests/reliability/write_report.py` (the last step of `make reliability`, "
        f"full sizes with `CITEQA_RELIABILITY_FULL=1`) on {when:%Y-%m-%d %H:%M} UTC at commit "
        f"`{commit}`; machine: {platform.machine()}, {_cpus()} CPU cores, Python "
        f"{platform.python_version()}. The test matrix and the pass criteria are in the shared "
        "reference (reliability.md, section c); each line is one test's own report. `make test` "
        "runs the same tests at bounded sizes.",
    ]
    if note:
        out += ["", f"Note: {note}"]
    for title, ids in ROWS.values():
        out += ["", f"## {title}", ""]
        for row in ids:
            lines = rows.get(row)
            out += [f"- {line}" for line in lines] if lines else [f"- {row}: not run"]
    if rows.get("other"):
        out += ["", "## Other figures", ""] + [f"- {line}" for line in rows["other"]]
    return "\n".join(out) + "\n"


def _cpus() -> str:
    return str(os.cpu_count() or "?")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    lines = source.read_text(encoding="utf-8").splitlines() if source.exists() else []
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render(group(lines), commit=_commit(Path(__file__).resolve().parents[2]),
                  when=datetime.now(UTC), note=argv[2] if len(argv) == 3 else "")
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(lines)} figure lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
