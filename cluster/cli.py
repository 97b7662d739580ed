"""``citeqa ingest --cluster ADDRESS`` and ``citeqa serve --cluster ADDRESS`` (found through the
``citeqa.cluster`` entry points; see service/cluster_verbs.py).

ADDRESS is a running head (HOST:PORT of its GCS) or ``auto``: a local cluster owned by the
command, on 127.0.0.1, ended with it. The index directory (``CITEQA_INDEX_DIR``) then holds a
sharded index (cluster/shard_set.py) and must be on storage every node sees.
"""

from __future__ import annotations

import argparse
import signal
import sys
from functools import partial
from pathlib import Path
from types import FrameType

from index.config import IngestConfig
from service.settings import Settings

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    print(f"citeqa: {message}", file=sys.stderr)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.remove:
        return ("--remove is not supported with --cluster yet: use --replace with the sources "
                "to keep")
    for arg in args.paths:
        if "://" in arg:
            return "a URL is not supported with --cluster yet: mirror it with a plain ingest first"
        if not Path(arg).exists():
            return f"{arg}: no such file or folder"
    return None


def ingest(args: argparse.Namespace, settings: Settings, address: str) -> int:
    from .ingest import ShardCountChanged, ingest_sharded
    from .ray_connect import ClusterUnavailable, connect
    from .ray_ingest import build_on_ray
    from .shard_set import read_shard_set

    problem = _usage_problem(args)
    if problem:
        _err(problem)
        return EXIT_USAGE
    paths = [Path(p) for p in args.paths]
    if not paths and read_shard_set(settings.index_dir) is None:
        paths = [Path("seeds")]
    config: IngestConfig = settings.ingest_config()
    # One model thread per embedding actor: the actors are the parallelism.
    make_encoder = partial(args.make_encoder, settings.model_copy(update={"encoder_threads": 1}))
    try:
        ray = connect(address, num_cpus=settings.ingest_workers)
    except ClusterUnavailable as exc:
        _err(str(exc))
        return EXIT_FAIL
    try:
        report = ingest_sharded(
            paths, settings.index_dir, settings.shards,
            build_on_ray(ray, make_encoder, config, settings.ingest_workers),
            replace=args.replace, follow_external_symlinks=args.follow_external_symlinks)
    except ShardCountChanged as exc:
        _err(str(exc))
        return EXIT_USAGE
    finally:
        if address == "auto":
            ray.shutdown()
    for built in report.built:
        for path, reason in built.skipped:
            _err(f"skipped {path}: {reason}")
    if report.documents == 0:
        _err("nothing usable was ingested")
        return EXIT_FAIL
    state = "published" if report.published else "kept"
    print(f"{state} {report.shard_set}: {report.documents} documents, {report.sentences} "
          f"sentences in {settings.shards} shards (rebuilt: "
          f"{', '.join(f'shard-{s:02d}' for s in report.changed_shards) or 'none'}) in "
          f"{report.seconds:.2f}s")
    for built in report.built:
        plural = "" if built.documents == 1 else "s"
        print(f"  shard-{built.shard:02d}: {built.version or 'empty'}, {built.documents} "
              f"document{plural} (embedded {len(built.embedded)}, reused {len(built.reused)})")
    return EXIT_OK


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(args: argparse.Namespace, settings: Settings, address: str) -> int:
    from .ray_connect import ClusterUnavailable, connect
    from .ray_serve import ServeAlreadyRunning, deploy

    try:
        ray = connect(address)
    except ClusterUnavailable as exc:
        _err(str(exc))
        return EXIT_FAIL
    ours = True  # the Serve this command started, shut down when it ends
    try:
        try:
            deploy(ray, settings, args.host, args.port,
                   make_encoder=partial(args.make_encoder, for_questions=True))
        except ServeAlreadyRunning as exc:
            ours = False  # somebody else's: left running as it is
            _err(str(exc))
            return EXIT_FAIL
        print(f"serving http://{args.host}:{args.port} on Ray Serve ({address}); Ctrl-C stops",
              file=sys.stderr, flush=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop)
        while True:
            signal.pause()
    finally:
        from ray import serve as ray_serve

        if ours:
            ray_serve.shutdown()
        if address == "auto":
            ray.shutdown()
