"""The cost of Ray Serve's calls alone on this machine (``python -m cluster.bench_calls``): an
ingress like the citeqa API's calling three replicas like its shards, whose method does nothing
but return ``--reply-bytes``. Prints JSON lines, each with the load average: per kind of call
(object store or gRPC; replica method sync or async), the ingress's own time for rounds of three
calls at once, and the HTTP time of a request that makes none, through Serve's proxy and straight
to the replica (direct ingress, as ``citeqa serve --cluster`` runs). Nothing is asserted."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import httpx

from service.ports import free_port

from .bench import _emit, wait_ready
from .ray_connect import connect
from .ray_serve import direct_ingress_env

SHARDS = 3


class SyncShard:
    def __init__(self, reply_bytes: int) -> None:
        self._reply = b"x" * reply_bytes

    def call(self, method: str, args: tuple[Any, ...]) -> bytes:
        return self._reply


class AsyncShard(SyncShard):
    async def call(self, method: str, args: tuple[Any, ...]) -> bytes:  # type: ignore[override]
        return self._reply


def _app(reply_bytes: int, env: dict[str, str]) -> Any:
    import numpy as np
    from fastapi import FastAPI
    from ray import serve

    api = FastAPI()

    class Ingress:
        def __init__(self, *shards: Any) -> None:
            half = len(shards) // 2
            self._shards: dict[tuple[str, bool], list[Any]] = {
                ("sync", True): list(shards[:half]), ("async", True): list(shards[half:])}
            for (kind, _), handles in list(self._shards.items()):
                self._shards[(kind, False)] = [h.options(_by_reference=False) for h in handles]

        @api.post("/rounds")
        def rounds(self, n: int, kind: str, by_reference: bool) -> dict[str, float]:
            handles = self._shards[(kind, by_reference)]
            vector = np.zeros(384, np.float32)
            started = time.perf_counter()
            for _ in range(n):
                for response in [h.call.remote("m", (vector,)) for h in handles]:
                    response.result(timeout_s=30)
            return {"ms": (time.perf_counter() - started) * 1e3}

    options = {"num_cpus": 0.25}
    shards = [serve.deployment(name=f"{cls.__name__}-{i}", ray_actor_options=options)(cls)
              .bind(reply_bytes) for cls in (SyncShard, AsyncShard) for i in range(SHARDS)]
    ingress = serve.deployment(name="ingress", ray_actor_options={
        **options, "runtime_env": {"env_vars": env}})(serve.ingress(api)(Ingress))
    return ingress.bind(*shards)


def _time(client: httpx.Client, url: str, params: dict[str, Any], count: int) -> dict[str, float]:
    http, inner = [], []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post(url, params=params)
        http.append((time.perf_counter() - started) * 1e3)
        response.raise_for_status()
        inner.append(response.json()["ms"])
    return {"http_p50_ms": round(statistics.median(http), 2),
            "ingress_p50_ms": round(statistics.median(inner), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--reply-bytes", type=int, default=4000)
    args = parser.parse_args(argv)
    ray = connect("auto", num_cpus=2)
    from ray import serve

    try:
        port, proxy_port = free_port(), free_port()
        env = direct_ingress_env(port, 1)
        serve.start(http_options={"host": "127.0.0.1", "port": proxy_port},
                    controller_options={"runtime_env": {"env_vars": env}})
        serve.run(_app(args.reply_bytes, env), name="calls", route_prefix="/", blocking=False)
        direct = f"http://127.0.0.1:{port}"
        proxy = f"http://127.0.0.1:{proxy_port}"
        for base in (direct, proxy):
            wait_ready(base, 120, path="/-/healthz")
        with httpx.Client(timeout=60) as client:
            for base, route in ((proxy, "Serve's proxy"), (direct, "direct to the replica")):
                params = {"n": 0, "kind": "sync", "by_reference": True}
                _time(client, f"{base}/rounds", params, 10)
                _emit({"what": f"a request that calls nothing, over HTTP, {route}",
                       **_time(client, f"{base}/rounds", params, args.count)})
            for kind in ("sync", "async"):
                for by_reference in (True, False):
                    params = {"n": 1, "kind": kind, "by_reference": by_reference}
                    _time(client, f"{direct}/rounds", params, 10)
                    _emit({"what": f"one round of {SHARDS} calls at once",
                           "replica_method": kind,
                           "transport": "object store" if by_reference else "gRPC",
                           "reply_bytes": args.reply_bytes,
                           **_time(client, f"{direct}/rounds", params, args.count)})
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
