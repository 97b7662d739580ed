"""The ``citeqa`` command line: each verb is a thin shell over library functions.

Exit codes: 0 success, 1 failure (nothing usable ingested, index unusable), 2 bad input or usage.
Every error a user can cause is one line on stderr, never a traceback. Checks that need no model
(paths, the question, the index) run before the model is loaded: its first use on a machine
exports it to ONNX, which takes a while.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from index.embed import ModelNotFound
from index.manifest import IndexCorrupt, IndexMismatch
from index.records import LoadError
from index.source_set import SourceError, absolute, current_sources, plan_sources
from index.sources import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES
from index.store import IndexBusy, IndexNotFound, PublishFailed, load_snapshot
from retriever.answer_model import AnswerModelError
from retriever.engine import Engine, QuestionError, validate_question
from retriever.schema import Answer
from retriever.weights import ScoringModel

from . import wiring
from .cluster_verbs import add_cluster_option, cluster_address, run_cluster_verb
from .settings import Settings
from .wiring import EncoderFactory, make_reader

if TYPE_CHECKING:
    from index.pipeline import IngestReport

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# index.web_fetch.WebLimits.max_pages, named here so that building the parser (every verb,
# ``serve`` included) does not import the crawler and its HTML parsers; a test keeps them equal.
DEFAULT_MAX_PAGES = 200

DESCRIPTION = """\
Answer questions about a document collection by quoting it.

  citeqa ingest docs/                 index a folder of .txt, .md, .html, .pdf and .docx files
  citeqa ask "When was the MoU signed?"
  citeqa serve                        the HTTP API, chat widget and Slack command

Settings come from CITEQA_* environment variables (or .env); see README.md.
Exit codes: 0 success, 1 failure (nothing usable ingested, index unusable), 2 bad input or usage.
"""
READABLE = ", ".join(sorted(SUPPORTED_SUFFIXES))


def _err(message: str) -> None:
    print(f"citeqa: {message}", file=sys.stderr)


def unsupported_files(paths: Iterable[Path]) -> Counter[str]:
    """Files under the given folders that ingest passes over for their type, counted by suffix.

    Walks as ``discover`` does (hidden files and folders and ``.meta.json`` sidecars are not
    documents), so the count names exactly what was left out."""
    found: Counter[str] = Counter()
    for root in paths:
        if not root.is_dir():
            continue
        for _folder, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                suffix = Path(name).suffix.lower()
                if name.startswith(".") or name.lower().endswith(SIDECAR_SUFFIX):
                    continue
                if suffix not in SUPPORTED_SUFFIXES:
                    found[suffix or "(no extension)"] += 1
    return found


def _describe(counts: Counter[str]) -> str:
    total = sum(counts.values())
    kinds = ", ".join(f"{n} {suffix}" for suffix, n in counts.most_common())
    return f"{total} file{'s' if total != 1 else ''} of other types ({kinds})"


def _source_lines(report: IngestReport) -> list[str]:
    """One line per source: what this ingest added, changed, reused, kept and removed there."""
    lines = []
    for src in report.sources:
        done = [f"{n} {what}" for what, n in (
            ("added", src.added), ("changed", src.changed), ("reused", src.reused),
            ("kept", src.kept), ("removed", src.removed)) if n]
        label = {"new": " (new source)", "dropped": " (source removed)",
                 "missing": " (missing: documents kept)"}.get(src.status, "")
        lines.append(f"  {src.path}{label}: {', '.join(done) or 'no documents'}")
    return lines


def _mirror_urls(args: argparse.Namespace, settings: Settings) -> list[Path]:
    """The ingest paths with each http(s) URL replaced by its mirror folder (beside the index:
    ``<index_dir>/../web/``), crawled now; per-page problems are one line each on stderr."""
    from index.web import WebLimits, mirror_site  # ingest-only: the crawler and its parsers
    from index.web_urls import looks_like_url, normalize

    for arg in args.paths:  # every URL is checked before any site is crawled
        if looks_like_url(arg):
            normalize(arg)
    agent = f"citeqa/{_version()}"
    paths = []
    for arg in args.paths:
        if not looks_like_url(arg):
            paths.append(Path(arg))
            continue
        report = mirror_site(arg, settings.index_dir.parent / "web",
                             WebLimits(max_pages=args.max_pages), user_agent=agent)
        for problem in report.problems:
            _err(f"skipped {problem.url}: {problem.reason}")
        for note in report.notes:
            _err(f"{arg}: {note}")
        print(f"mirrored {len(report.saved)} pages of {arg} into {report.folder} ({report.changed} "
              f"files written, {len(report.removed)} removed)", file=sys.stderr)
        paths.append(report.folder)
    return paths


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("citeqa")
    except PackageNotFoundError:
        return "0"


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    address = cluster_address(args, settings)
    if address:
        return run_cluster_verb("ingest", args, settings, address)
    # Imported here, not at module level: the loaders and splitters are ingest's alone, and
    # ``citeqa serve`` goes through this module too.
    from index.loaders import discover
    from index.pipeline import ingest
    from index.web import UrlRefused, WebSourceError

    try:  # a URL is mirrored to a folder first; the folder is then ingested like any other
        given = _mirror_urls(args, settings)
    except UrlRefused as exc:
        _err(str(exc))
        return EXIT_USAGE
    except WebSourceError as exc:
        _err(str(exc))
        return EXIT_FAIL
    removed = [Path(p) for p in args.remove or []]
    recorded, derived = current_sources(settings.index_dir)
    try:
        plan = plan_sources(recorded, given, remove=removed, replace=args.replace,
                            default=[Path("seeds")], derived=derived)
    except SourceError as exc:
        _err(str(exc))
        return EXIT_USAGE
    for gone in plan.missing:  # kept, not dropped: a missing disk must not empty the index
        _err(f"source {gone} no longer exists: its documents are kept "
             f"(citeqa ingest --remove {gone} drops them)")
    paths = [*given, *(p for p in plan.read if p not in {absolute(g) for g in given})]
    try:
        files = discover(paths)
    except LoadError as exc:  # a missing path, or a file of another type named explicitly
        hint = f"; citeqa reads {READABLE}" if Path(exc.path).exists() else ""
        _err(f"{exc}{hint}")
        return EXIT_USAGE
    passed_over = unsupported_files(paths)
    if not files and not plan.missing and recorded is None:
        where = ", ".join(str(p) for p in paths)
        other = f"; passed over {_describe(passed_over)}" if passed_over else ""
        _err(f"nothing usable was ingested: no {READABLE} files in {where}{other}")
        return EXIT_FAIL
    if passed_over:
        _err(f"passed over {_describe(passed_over)}; citeqa reads {READABLE}")
    report = ingest(
        given,
        settings.index_dir,
        args.make_encoder(settings),
        dataclasses.replace(settings.ingest_config(),
                            follow_external_symlinks=args.follow_external_symlinks),
        mode="replace" if args.replace else "add",
        remove=removed,
        default_paths=[Path("seeds")],
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
    print("\n".join(_source_lines(report)))
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


def open_for_question(
    settings: Settings, make_encoder: EncoderFactory = wiring.make_encoder
) -> Engine:
    """The index first, the models last: a missing or corrupt index is reported before the
    encoder is loaded (or exported, on a machine's first use)."""
    snapshot = load_snapshot(settings.index_dir)
    try:
        return Engine(
            snapshot, make_encoder(settings, for_questions=True), ScoringModel.load(),
            settings.engine_params(), make_reader(settings),
        )
    except BaseException:
        snapshot.close()
        raise


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    question = validate_question(args.question)
    engine = open_for_question(settings, args.make_encoder)
    answer = engine.ask(question, top_k=args.top_k, debug=args.debug)
    if args.json:
        print(answer.model_dump_json(indent=2, exclude_none=not args.debug))
    else:
        print(render_answer(answer))
        if args.debug and answer.debug:
            for t in answer.debug:
                print("   ", json.dumps(t.model_dump()), file=sys.stderr)
    return EXIT_OK


def _top_k(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number between 1 and 50") from None
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError("must be between 1 and 50")
    return k


def _max_pages(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 100000")
    return int(value)


def build_parser(make_encoder: EncoderFactory = wiring.make_encoder) -> argparse.ArgumentParser:
    """Every verb's parser. ``make_encoder`` is the model seam: the verbs that embed (ingest, ask,
    serve) build their encoder with ``args.make_encoder``; a test passes its fake here."""
    parser = argparse.ArgumentParser(
        prog="citeqa", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(make_encoder=make_encoder)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (citeqa COMMAND --help for its options)")
    p = sub.add_parser(
        "ingest", help="build or update the index (default: seeds/)",
        description=f"Build or update the index from files and folders ({READABLE}). The index "
        "records its sources: the paths given are added to them and every source is re-read "
        "(unchanged files reused, changed ones re-embedded, deleted ones dropped); no path "
        "re-reads the recorded sources (seeds/ for a new index). Exit 1 when nothing usable "
        "was ingested, 2 for a path that does not exist or a file of another type.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders to add to the index's sources (folders are read "
                   "recursively; none: re-read the recorded sources, or seeds for a new index)")
    p.add_argument("--replace", action="store_true",
                   help="make the given paths the only sources, dropping the documents of "
                   "every other source")
    p.add_argument("--remove", action="append", metavar="PATH",
                   help="drop a recorded source and its documents (may be repeated)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-pages", type=_max_pages, default=DEFAULT_MAX_PAGES, metavar="N",
                   help="pages requested per website named by URL (default: %(default)s)")
    p.add_argument("--follow-external-symlinks", action="store_true",
                   help="also read symlinks whose target is outside the folder being ingested "
                   "(by default they are skipped and reported, so a link cannot publish a file "
                   "from elsewhere on the machine)")
    add_cluster_option(p)
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser(
        "ask", help="answer one question",
        description="Answer one question with a quote from the indexed documents, or say it is "
        "not in them. Exit 2 for an empty, over-long or malformed question, 1 when there is no "
        "usable index.",
    )
    p.add_argument("question", metavar="QUESTION", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print the Answer object")
    p.add_argument("--top-k", type=_top_k, default=None, metavar="N",
                   help="citations to return, 1 to 50 (default: CITEQA_TOP_K, 5)")
    p.add_argument("--debug", action="store_true", help="show each retriever's rank and score")
    p.set_defaults(func=cmd_ask)
    _add_optional_verbs(sub)
    _plain_help(parser)
    return parser


VERB_GROUP = "citeqa.verbs"


def _add_optional_verbs(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Verbs that live beside their subsystems register themselves: the service's own here, the
    layers above it (eval's ``eval`` and ``bench``) through the ``citeqa.verbs`` entry points
    they declare in pyproject.toml, so that this package never names them."""
    from importlib.metadata import distributions

    from . import feedback_cli, serve_cli

    serve_cli.register(sub)
    seen: set[str] = set()
    # Every distribution's, not entry_points()'s one per project name: that picks the first found,
    # and a stale citeqa.egg-info in the working directory would hide the installed verbs.
    points = (p for dist in distributions() for p in dist.entry_points if p.group == VERB_GROUP)
    for point in points:
        if point.name in seen:
            continue
        seen.add(point.name)
        try:
            register = point.load()
        except ModuleNotFoundError as exc:  # declared, but its package is not installed
            if exc.name != point.module:
                raise
            continue
        register(sub)
    feedback_cli.register(sub)


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Drop reStructuredText's ``literal`` markup from help text: verbs use their module
    docstrings as descriptions, and a terminal shows the backticks raw."""
    parser.description = (parser.description or "").replace("``", "") or None
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = action.help.replace("``", "")
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = (choice.help or "").replace("``", "")
            for child in action.choices.values():
                _plain_help(child)


def _settings_problem(exc: ValidationError) -> str:
    """Which settings are wrong and why, naming the variables (values are never printed)."""
    lines = [
        f"CITEQA_{'_'.join(str(part) for part in err['loc']).upper()}: {err['msg']}"
        for err in exc.errors()
    ]
    return "invalid settings: " + "; ".join(lines)


def _os_problem(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def main(
    argv: Sequence[str] | None = None, *, make_encoder: EncoderFactory = wiring.make_encoder
) -> int:
    args = build_parser(make_encoder).parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        _err(_settings_problem(exc))
        return EXIT_USAGE
    try:
        return int(args.func(args, settings))
    except (QuestionError, LoadError, SourceError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (
        IndexNotFound, IndexCorrupt, IndexMismatch, IndexBusy, PublishFailed, ModelNotFound,
        AnswerModelError,
    ) as exc:
        _err(str(exc))
        return EXIT_FAIL
    except OSError as exc:  # the index folder unwritable, the disk full: say so in one line
        _err(_os_problem(exc))
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
