"""Keeping a local cluster on loopback where Ray has no setting for it.

Ray Serve (2.60) starts each replica's inter-deployment gRPC server on ``[::]:0``, every
interface, whatever the node's address. For a local cluster (``--cluster auto``, the tests) this
hook, run by Ray in each worker process at start (``worker_process_setup_hook``), makes that
server listen on 127.0.0.1 instead: the node advertises 127.0.0.1, so the replicas still reach
each other. tests/test_cluster_ray.py checks that nothing of the cluster listens elsewhere.
"""

from __future__ import annotations

from typing import Any

HOOK = "cluster.loopback.bind_serve_replicas_to_loopback"
_ANY = "[::]:"


def bind_serve_replicas_to_loopback() -> None:
    from ray.serve._private import replica

    original = replica.add_port_to_grpc_server
    if getattr(original, "citeqa_loopback", False):
        return

    def on_loopback(server: Any, address: str) -> int:
        if address.startswith(_ANY):
            address = "127.0.0.1:" + address[len(_ANY):]
        port: int = original(server, address)
        return port

    on_loopback.citeqa_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback
