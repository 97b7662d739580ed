"""``citeqa feedback export [--out FILE]``: feedback as gold-set candidates (JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .feedback import FeedbackStore
from .settings import Settings


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.feedback_db.exists():
        print(f"citeqa: no feedback yet ({settings.feedback_db} does not exist)", file=sys.stderr)
        return 1
    store = FeedbackStore(settings.feedback_db)
    try:
        candidates = store.export_candidates()
    finally:
        store.close()
    lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in candidates)
    if args.out:
        Path(args.out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    print(f"exported {len(candidates)} candidate(s) for review", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "feedback", help="work with collected feedback",
        description="Work with the helpful / not helpful judgements collected from the widget "
        "and Slack (CITEQA_FEEDBACK_DB).",
    )
    verbs = p.add_subparsers(dest="feedback_command", required=True, metavar="ACTION",
                             help="what to do with the feedback")
    e = verbs.add_parser(
        "export", help="write gold-set candidates (JSON lines) for review",
        description="Write the collected feedback as gold-set candidates, one JSON object a "
        "line, for a person to review before anything enters eval/gold.jsonl.",
    )
    e.add_argument("--out", help="file to write (default: stdout)")
    e.set_defaults(func=cmd_export)
