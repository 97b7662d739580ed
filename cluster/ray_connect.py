"""Joining a Ray cluster: a running one at HOST:PORT (its GCS address), or, for ``auto``, a
local one owned by this process and bound to loopback only.

Ray binds the machine's public interface unless told otherwise, so a local cluster is always
started with ``_node_ip_address="127.0.0.1"``, no dashboard, and
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` set before Ray is first imported (Ray reads it then;
without it Ray advertises the machine's public address even for a loopback node); it ends with
this process (or ``ray.shutdown()``), never with ``ray stop``, which would end every Ray process
on the machine.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .loopback import HOOK

LOOPBACK = "127.0.0.1"
LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class ClusterUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached; the message says which."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClusterUnavailable(
            "Ray is not installed: pip install -e '.[cluster]' (the optional cluster extra)"
        ) from exc
    return ray


def _ray_clusters_enabled() -> bool:
    from ray._private import ray_constants

    return bool(ray_constants.ENABLE_RAY_CLUSTER)


def connect(address: str, *, num_cpus: int | None = None, **init: Any) -> Any:
    """``ray`` after joining ``address`` (``auto``: start a local loopback cluster with
    ``num_cpus``). Already connected: left as it is."""
    if address == "auto" or address.rsplit(":", 1)[0] in (LOOPBACK, "localhost"):
        # Read when Ray is imported: otherwise Ray swaps 127.0.0.1 for the machine's address.
        os.environ.setdefault(LOCAL_ONLY, "0")
        if "ray" in sys.modules and address == "auto" and _ray_clusters_enabled():
            raise ClusterUnavailable(
                f"Ray was imported before {LOCAL_ONLY}=0 was set, so a local cluster would "
                "listen on every interface: set it in the environment, or connect first")
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "auto":
            ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False,
                     num_cpus=num_cpus, log_to_driver=False,
                     runtime_env={"worker_process_setup_hook": HOOK}, **init)
        else:
            ray.init(address=address, log_to_driver=False, **init)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot join the Ray cluster at {address}: {exc}") from exc
    return ray
