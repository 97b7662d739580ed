"""``citeqa eval``: run a question set, write a results folder, optionally apply the quality gate.

    citeqa eval                                  # seed gold set, test split, all three modes
    citeqa eval --dataset squad --split all      # SQuAD sample, dev+test (var/bench/squad-index)
    citeqa eval --dataset squad2                 # SQuAD 2.0: abstention (var/bench/squad2-index)
    citeqa eval --dataset scifact                # SciFact retrieval (var/bench/scifact-index)
    citeqa eval --dataset docs --split all       # real documentation under /usr/share/doc
    citeqa eval --url http://localhost:8000      # a running service (hybrid only)
    citeqa eval --out eval/results/gold --gate   # refresh the committed report, then gate it

Reports lead with the test split and show dev beside it; questions of split "train" (articles the
scoring weights were fitted on) are never asked, not even with --split all.

Exit codes: 0 done (and the gate passed), 1 gate failed or the target is unusable, 2 bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from . import datasets, docs_corpus, gate, report
from .harness import MODES, EngineTarget, EvalRun, HttpTarget, ServiceError, run

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
BENCH_INDEX_ROOT = Path("var/bench")
RETRIEVAL_DEPTH = 1000  # fusion depth per retriever for retrieval-only sets (recall@100)
DATASETS = ("gold", "squad", "squad2", "scifact", "docs")
LOADERS = {"gold": datasets.load_gold, "squad": datasets.load_squad,
           "squad2": datasets.load_squad2, "scifact": datasets.load_scifact,
           "docs": datasets.load_docs}
CORPORA = {"squad": datasets.squad_corpus, "squad2": datasets.squad2_corpus,
           "scifact": datasets.scifact_corpus,
           "docs": lambda: docs_corpus.materialize(BENCH_INDEX_ROOT / "docs-corpus")}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "eval", help="run the evaluation harness", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", choices=DATASETS, default="gold",
                   help="question set: gold (eval/gold.jsonl, the default), a benchmark read "
                        "from ../shared/bench (squad, squad2, scifact), or docs (eval/docs: "
                        "real documentation that Debian installs under /usr/share/doc)")
    p.add_argument("--split", choices=("test", "dev", "all"), default="test",
                   help="test (the headline), dev, or all (dev and test; train is never asked)")
    p.add_argument("--modes", type=_modes, default=None,
                   help="comma-separated subset of hybrid,dense,bm25 (default: all in-process, "
                        "hybrid with --url)")
    p.add_argument("--url", help="evaluate a running service instead of an in-process index")
    p.add_argument("--index", type=Path, default=None,
                   help="index dir (default: the configured one for gold, "
                        "var/bench/<dataset>-index for the benchmarks)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: var/eval/<dataset>-<split>)")
    p.add_argument("--compare", type=Path, default=None,
                   help="a previous results folder to diff against (default: the --out folder's "
                        "previous run, when there is one)")
    p.add_argument("--gate", action="store_true",
                   help="fail (exit 1) when the gold test split is below eval/baseline.json")
    p.add_argument("--update-baseline", action="store_true",
                   help="raise eval/baseline.json to this run's values (never lowers them)")
    p.add_argument("--limit", type=int, default=None, help="first N questions only (smoke runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval)


def _modes(value: str) -> list[str]:
    modes = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def _err(message: str) -> None:
    print(f"citeqa eval: {message}", file=sys.stderr)


def select_questions(dataset: str, split: str) -> list[datasets.Question]:
    """The questions of ``split``; "all" is dev and test: a train question is never evaluated."""
    questions = LOADERS[dataset]()
    return [q for q in questions
            if q.split != "train" and (split == "all" or q.split == split)]


def bench_engine(dataset: str, index_dir: Path, settings: Any, quiet: bool) -> Any:
    """The benchmark's own index, (re)built incrementally from its corpus, and an engine on it."""
    from index.pipeline import ingest
    from service.wiring import make_encoder, open_engine

    corpus = CORPORA[dataset]()
    encoder = make_encoder(settings)
    result = ingest([corpus], index_dir, encoder, settings.ingest_config(), progress=not quiet)
    for problem in result.skipped:
        _err(f"skipped {problem.path}: {problem.reason}")
    state = "published" if result.published else "reused"
    print(f"{dataset} index {result.version} ({state}, {result.documents} documents, "
          f"{result.seconds:.1f}s)", file=sys.stderr)
    params = settings.engine_params()
    if dataset == "scifact":
        params = dataclasses.replace(params, fusion=dataclasses.replace(
            params.fusion, depth=max(params.fusion.depth, RETRIEVAL_DEPTH)))
    return open_engine(settings.model_copy(update={"index_dir": index_dir}), encoder,
                       params=params)


def cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    if (args.gate or args.update_baseline) and (args.dataset, args.split) != ("gold", "test"):
        _err("--gate and --update-baseline apply to the gold test split only")
        return EXIT_USAGE
    try:
        questions = select_questions(args.dataset, args.split)
    except FileNotFoundError as exc:
        _err(f"{args.dataset} questions not found: {exc.filename} (../shared beside the repo?)")
        return 1
    if args.limit:
        questions = questions[: args.limit]
    if not questions:
        _err(f"no {args.dataset} questions in split {args.split!r}")
        return EXIT_USAGE
    task = "retrieval" if args.dataset == "scifact" else "qa"
    target: Any
    if args.url:
        if task == "retrieval":
            _err("retrieval-only sets (scifact) run in-process only")
            return EXIT_USAGE
        modes = args.modes or ["hybrid"]
        if modes != ["hybrid"]:
            _err("a service answers in its configured mode: use --modes hybrid with --url")
            return EXIT_USAGE
        target = HttpTarget(args.url)
        try:
            target.check_ready()
        except ServiceError as exc:
            _err(str(exc))
            return EXIT_FAIL
    else:
        from service.wiring import limit_threads, open_engine

        limit_threads(settings)  # answers are timed one at a time, as the service runs them
        modes = args.modes or list(MODES)
        if args.dataset == "gold":
            index_dir = args.index or settings.index_dir
            engine = open_engine(settings.model_copy(update={"index_dir": index_dir}))
        else:
            index_dir = args.index or BENCH_INDEX_ROOT / f"{args.dataset}-index"
            try:
                engine = bench_engine(args.dataset, index_dir, settings, args.quiet)
            except docs_corpus.DocsCorpusUnavailable as exc:
                _err(f"the docs corpus cannot be built here: {exc}")
                return EXIT_FAIL
        target = EngineTarget(engine)
    out = args.out or Path("var/eval") / f"{args.dataset}-{args.split}"
    previous = args.compare
    if previous is None and (out / "rows.jsonl").is_file():
        previous = out
    if previous is not None and not (previous.is_file() or (previous / "rows.jsonl").is_file()):
        _err(f"--compare: no rows.jsonl in {previous}")
        return EXIT_USAGE
    # The gate's reference run is read now: --out may be the very folder it lives in.
    reference_path = gate.REFERENCE_RUN / "rows.jsonl"
    reference = report.read_rows(reference_path) if reference_path.is_file() else None
    result: EvalRun = run(questions, target, dataset=args.dataset, split=args.split,
                          modes=modes, task=task, progress=not args.quiet)
    summary = report.write_results(result, out, previous=previous)
    print(report.console_table(summary))
    print(f"results: {out}/report.html", file=sys.stderr)
    status = EXIT_OK
    if args.gate:
        verdict = gate.check(summary, result.rows, gate.load_baseline(), reference)
        print(verdict.render())
        status = EXIT_OK if verdict.passed else EXIT_FAIL
    if args.update_baseline:
        raised = gate.raised_baseline(summary, gate.load_baseline())
        gate.BASELINE_PATH.write_text(json.dumps(raised, indent=2) + "\n", encoding="utf-8")
        print(f"baseline written: {gate.BASELINE_PATH}", file=sys.stderr)
    return status


def register_verbs(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """eval's verbs for ``citeqa``, in their help order: the ``citeqa.verbs`` entry point that
    pyproject.toml declares (the service's command line finds it without naming eval)."""
    from .bench_cli import register as register_bench

    register(subparsers)
    register_bench(subparsers)
