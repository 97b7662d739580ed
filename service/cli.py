"""The ``citeqa`` command line: each verb is a thin shell over library functions.

Exit codes: 0 success, 1 failure (nothing usable ingested, index unusable), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from index.embed import ModelNotFound
from index.manifest import IndexCorrupt, IndexMismatch
from index.pipeline import ingest
from index.store import IndexBusy, IndexNotFound, PublishFailed
from retriever.engine import QuestionError
from retriever.schema import Answer

from .settings import Settings
from .wiring import make_encoder, open_engine

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    print(f"citeqa: {message}", file=sys.stderr)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in (args.paths or ["seeds"])]
    report = ingest(
        paths,
        settings.index_dir,
        make_encoder(settings),
        settings.ingest_config(),
        progress=not args.quiet,
    )
    for problem in report.skipped:
        _err(f"skipped {problem.path}: {problem.reason}")
    if report.note:
        print(report.note, file=sys.stderr)
    if report.documents == 0:
        _err("nothing usable was ingested")
        return EXIT_FAIL
    state = f"published {report.version}" if report.published else f"kept {report.version}"
    print(
        f"{state}: {report.documents} documents, {report.chunks} chunks, {report.sentences} "
        f"sentences (embedded {len(report.embedded)}, reused {len(report.reused)}, removed "
        f"{len(report.removed)}, skipped {len(report.skipped)}) in {report.seconds:.2f}s"
    )
    return EXIT_OK


def render_answer(answer: Answer) -> str:
    """Human-readable answer for the terminal."""
    lines = []
    if answer.abstained:
        lines.append("Not in the documents.")
        if answer.citations:
            lines.append("Related passages:")
    else:
        text = answer.answer or ""
        if answer.highlight:
            h = answer.highlight
            text = f"{text[: h.start]}[{text[h.start : h.end]}]{text[h.end :]}"
        lines.append(f"“{text}”")
        lines.append(f"confidence {answer.confidence:.2f}")
    for i, c in enumerate(answer.citations, start=1):
        lines.append(f"  [{i}] {c.doc_id} {c.start}-{c.end} “{c.quote[:120]}”")
    if answer.conflicts:
        lines.append("Sources differ:")
        for c in answer.conflicts:
            lines.append(f"  - {c.doc_id} {c.start}-{c.end} “{c.quote[:160]}”")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_engine(settings)
    answer = engine.ask(args.question, top_k=args.top_k, debug=args.debug)
    if args.json:
        print(answer.model_dump_json(indent=2, exclude_none=not args.debug))
    else:
        print(render_answer(answer))
        if args.debug and answer.debug:
            for t in answer.debug:
                print("   ", json.dumps(t.model_dump()), file=sys.stderr)
    return EXIT_OK


def _top_k(value: str) -> int:
    k = int(value)
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError("must be between 1 and 50")
    return k


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citeqa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="build or update the index (default: seeds/)")
    p.add_argument("paths", nargs="*")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer object")
    p.add_argument("--top-k", type=_top_k, default=None)
    p.add_argument("--debug", action="store_true", help="show each retriever's rank and score")
    p.set_defaults(func=cmd_ask)
    _add_optional_verbs(sub)
    return parser


def _add_optional_verbs(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Verbs that live beside their subsystems (service, eval, bench) register themselves."""
    from importlib import import_module

    for module in ("service.serve_cli", "eval.cli", "eval.bench_cli", "service.feedback_cli"):
        try:
            register = import_module(module).register
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        register(sub)


def _settings_problem(exc: ValidationError) -> str:
    """Which settings are wrong and why, naming the variables (values are never printed)."""
    lines = [
        f"CITEQA_{'_'.join(str(part) for part in err['loc']).upper()}: {err['msg']}"
        for err in exc.errors()
    ]
    return "invalid settings: " + "; ".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        _err(_settings_problem(exc))
        return EXIT_USAGE
    try:
        return int(args.func(args, settings))
    except QuestionError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (
        IndexNotFound, IndexCorrupt, IndexMismatch, IndexBusy, PublishFailed, ModelNotFound
    ) as exc:
        _err(str(exc))
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
