"""``--cluster`` on ``citeqa ingest`` and ``citeqa serve``: the sharded, Ray-backed versions of
those verbs live in the ``cluster`` package, which this package never names; it declares them
as ``citeqa.cluster`` entry points (pyproject.toml) and they are looked up only when asked for,
so the default path never imports Ray."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .settings import Settings

GROUP = "citeqa.cluster"
ClusterVerb = Callable[[argparse.Namespace, Settings, str], int]


class ClusterVerbMissing(Exception):
    pass


def cluster_address(args: argparse.Namespace, settings: Settings) -> str | None:
    """``--cluster``, else the setting; None: the one-process path."""
    return getattr(args, "cluster", None) or settings.cluster_address


def cluster_verb(name: str) -> ClusterVerb:
    from importlib.metadata import distributions

    for dist in distributions():
        for point in dist.entry_points:
            if point.group == GROUP and point.name == name:
                verb: ClusterVerb = point.load()
                return verb
    raise ClusterVerbMissing(f"`citeqa {name} --cluster` is not installed with this citeqa")


def add_cluster_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster", metavar="ADDRESS", default=None,
        help="run on a Ray cluster: HOST:PORT of its head, or 'auto' for a local one bound "
        "to 127.0.0.1 (needs the cluster extra: pip install -e '.[cluster]'; default: "
        "CITEQA_CLUSTER_ADDRESS, else one process)")


def run_cluster_verb(name: str, args: argparse.Namespace, settings: Settings,
                     address: str) -> int:
    """The cluster version of verb ``name``; exit 2 when it is not installed."""
    try:
        verb = cluster_verb(name)
    except ClusterVerbMissing as exc:
        print(f"citeqa: {exc}", file=sys.stderr)
        return 2
    return verb(args, settings, address)
