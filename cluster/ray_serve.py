"""Sharded serving on Ray Serve: a deployment per shard, whose replicas each hold that shard's
version (FAISS, BM25, records), and the citeqa FastAPI app (``service.app.create_app``: the same
API, widget, Slack and metrics) as the ingress deployment. Each ingress replica loads the
encoder and the answer model once; its engine is a ``ShardedEngine`` whose shard calls go to
the shard deployments' handles. Replica counts and CPUs are settings.

A shard replica that dies is restarted by Serve; meanwhile calls routed to it fail, the
question fails with 503 problem+json naming no partial answer (``ShardUnavailable``), and the
other shards' replicas keep serving. A new shard set is served by deploying again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from index.embed import Encoder
from retriever.answer_model import Reader
from retriever.engine import Engine
from retriever.weights import ScoringModel
from service.settings import Settings

from .calls import ShardUnavailable
from .engine import ShardedEngine
from .shard import ShardSearcher
from .shard_set import ShardEntry, read_shard_set

APP_NAME = "citeqa"
INGRESS_NAME = "citeqa-api"
# What the coordinator may call on a shard replica (``ShardSearcher``'s question path).
SHARD_METHODS = frozenset(
    {"summary", "retrieve", "candidates", "passages", "document"})
EncoderMaker = Callable[[Settings], Encoder]
ReaderMaker = Callable[[Settings], Reader]


class ShardReplica:
    """One replica of one shard's deployment."""

    def __init__(self, index_dir: str, entry: ShardEntry) -> None:
        self._searcher = ShardSearcher.open(Path(index_dir), entry)

    async def call(self, method: str, args: tuple[Any, ...]) -> Any:
        # Run on the replica's event loop rather than in a thread of its pool: a shard's work
        # per question is short, and the hand-off to a thread cost more than it.
        if method not in SHARD_METHODS:
            raise ValueError(f"no shard method {method!r}")
        return getattr(self._searcher, method)(*args)


class RayShards:
    """``ShardCalls`` over Serve deployment handles: every shard asked at once, then awaited."""

    def __init__(self, handles: Sequence[Any], names: Sequence[str], timeout_s: float) -> None:
        # Calls and replies go over the replicas' gRPC servers rather than through Ray's object
        # store (``_by_reference=False``): the replies are small, and this is the quicker path.
        self._handles = [h.options(_by_reference=False) for h in handles]
        self._names, self._timeout_s = list(names), timeout_s

    def __len__(self) -> int:
        return len(self._handles)

    def call(self, method: str, args: Mapping[int, tuple[Any, ...]]) -> dict[int, Any]:
        if _on_event_loop():
            # The service reads a document on its event loop (a dict lookup in one process);
            # Serve refuses to block there, so the calls wait on a thread while the loop does.
            with ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(self._call, method, args).result()
        return self._call(method, args)

    def _call(self, method: str, args: Mapping[int, tuple[Any, ...]]) -> dict[int, Any]:
        pending = {s: self._handles[s].call.remote(method, a) for s, a in args.items()}
        out: dict[int, Any] = {}
        for shard, response in pending.items():
            try:
                out[shard] = response.result(timeout_s=self._timeout_s)
            except Exception as exc:  # noqa: BLE001 - any failure of a shard is that shard's
                raise ShardUnavailable(
                    f"{self._names[shard]} did not answer ({type(exc).__name__})") from exc
        return out


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ShardedEngineLoader:
    """The ingress app's engine loader: a ``ShardedEngine`` over the shard deployments, with the
    encoder and answer model loaded once per replica."""

    def __init__(self, handles: Sequence[Any], names: Sequence[str], version: str,
                 make_encoder: EncoderMaker | None, make_reader: ReaderMaker | None) -> None:
        self._handles, self._names, self._version = handles, names, version
        self._make_encoder, self._make_reader = make_encoder, make_reader
        self._encoder: Encoder | None = None
        self._reader: Reader | None = None

    def __call__(self, settings: Settings) -> Engine:
        from service.runtime import shareable
        from service.wiring import make_encoder, make_reader

        if self._encoder is None:
            made = (self._make_encoder or (lambda s: make_encoder(s, for_questions=True)))(
                settings)
            self._encoder = shareable(made, settings)
        if self._reader is None:
            self._reader = (self._make_reader or make_reader)(settings)
        engine = ShardedEngine(
            RayShards(self._handles, self._names, settings.shard_timeout_s), self._encoder,
            ScoringModel.load(), settings.engine_params(), self._reader, version=self._version,
            speculate=settings.shard_speculation)
        # The service's routes use what both engines offer (ask, search, document, version,
        # reader, corpus.documents, close); the cast names that shared surface.
        return cast(Engine, engine)


class Ingress:
    """The API deployment; Serve builds its ASGI app after construction, in the replica."""

    def __init__(self, settings: Settings, version: str, names: list[str],
                 make_encoder: EncoderMaker | None, make_reader: ReaderMaker | None,
                 *shards: Any) -> None:
        self._loader = ShardedEngineLoader(shards, names, version, make_encoder, make_reader)
        self._settings = settings

    def __serve_build_asgi_app__(self) -> Any:
        from service.app import create_app

        return create_app(self._settings, engine_loader=self._loader)


class ServeAlreadyRunning(RuntimeError):
    """Serve runs on the cluster already, started without what this deployment needs."""


def _serve_running(ray: Any) -> bool:
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return False
    return True


def direct_ingress_env(port: int, replicas: int) -> dict[str, str]:
    """What Serve's controller and the API's replicas read to serve HTTP from the replicas
    themselves (Ray Serve 2.60 reads these environment variables; there are no options)."""
    return {
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
        # The API's replicas take port, port + 1, ... on each node.
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + replicas),
        # Serve holds a released port back, and drains a stopping replica, for a load balancer
        # in front of many ports to notice; here each replica's port is its own, so a restarted
        # replica takes it back at once, and stopping does not wait.
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
    }


def application(ray: Any, settings: Settings, *, make_encoder: EncoderMaker | None = None,
                make_reader: ReaderMaker | None = None,
                ingress_env: Mapping[str, str] | None = None) -> Any:
    """The Serve application of ``settings.index_dir``'s live shard set (``ingress_env``: extra
    environment of the API's replicas)."""
    from ray import serve

    shard_set = read_shard_set(settings.index_dir)
    if shard_set is None:
        from index.store import IndexNotFound

        raise IndexNotFound(f"no sharded index at {settings.index_dir}: run "
                            "`citeqa ingest --cluster`")
    live = [e for e in shard_set.shards if e.version is not None]
    options: dict[str, Any] = {"num_cpus": settings.replica_cpus}
    shards = [serve.deployment(
        name=entry.name, num_replicas=settings.shard_replicas, ray_actor_options=options,
    )(ShardReplica).bind(str(settings.index_dir.resolve()), entry) for entry in live]
    ingress_options = {**options, "runtime_env": {"env_vars": dict(ingress_env)}} \
        if ingress_env else options
    ingress = serve.deployment(
        name=INGRESS_NAME, num_replicas=settings.ingress_replicas,
        ray_actor_options=ingress_options,
    )(serve.ingress()(Ingress))
    return ingress.bind(settings, shard_set.name.removesuffix(".json"),
                        [e.name for e in live], make_encoder, make_reader, *shards)


def deploy(ray: Any, settings: Settings, host: str, port: int, **makers: Any) -> None:
    """Serve the application on ``host:port`` (returns once it is running; the caller keeps the
    process, and with it a local cluster, alive). With ``settings.direct_ingress`` the API's
    replica listens there itself and Serve's proxy, which Serve needs all the same, takes a
    free port of its own. Serve must not be running yet on the cluster: its controller reads
    these choices when it starts."""
    from ray import serve

    from service.ports import free_port

    env = direct_ingress_env(port, settings.ingress_replicas) if settings.direct_ingress \
        else {}
    if env and _serve_running(ray):
        # Its controller would keep its own settings and nothing would listen on ``port``.
        raise ServeAlreadyRunning(
            "Ray Serve is already running on this cluster, and the API can serve its port "
            "itself (direct ingress) only when Serve starts with it: shut that Serve "
            "application down (`serve shutdown`), or set CITEQA_DIRECT_INGRESS=false")
    serve.start(http_options={"host": host, "port": free_port(host) if env else port},
                controller_options={"runtime_env": {"env_vars": env}})
    serve.run(application(ray, settings, ingress_env=env, **makers), name=APP_NAME,
              route_prefix="/", blocking=False)
