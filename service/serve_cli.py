"""``citeqa serve [--host --port]``: the HTTP service under uvicorn.

Signals: SIGHUP serves a newly published index version without a restart (like ``POST
/admin/reload``); SIGTERM or SIGINT stop accepting connections, let the requests in flight finish
(up to ``timeout_graceful_shutdown``), release the index and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType
from typing import Any

from .cluster_verbs import add_cluster_option, cluster_address, run_cluster_verb
from .settings import Settings

GRACEFUL_SHUTDOWN_S = 10
# Idle time allowed between requests on a kept-alive connection (uvicorn's default; below the
# request read deadline, so an idle connection goes first).
KEEP_ALIVE_S = 5


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> Any:
    """How the service runs under uvicorn (also used by the tests' live servers).

    X-Forwarded-For is honoured only from the proxies listed in ``forwarded_allow_ips``: uvicorn's
    default trusts 127.0.0.1, which would let any local caller choose its rate-limit key.
    Connections are guarded by connections.py (a read deadline per request, bounds per client
    address and in all). ``limit_concurrency`` is not uvicorn's here: uvicorn counts idle
    connections too, so silent sockets would turn the probes into 503s; the middleware bounds
    requests in flight instead, and the engine's bounded queue sheds load before either."""
    import uvicorn

    from .connections import ConnectionLimits, guarded_protocol

    trusted = ",".join(settings.forwarded_allow_ips)
    limits = ConnectionLimits.for_server(settings.max_connections_per_client,
                                         settings.forwarded_allow_ips)
    values: dict[str, Any] = {
        "access_log": False,  # one JSON line per request comes from citeqa.access instead
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "http": guarded_protocol(limits),
        "ws": "none",  # no WebSocket routes: an upgrade would leave the guarded protocol
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
    values.update(options)
    return uvicorn.Config(app, **values)


GIL_SWITCH_INTERVAL_S = 0.0005


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM/SIGINT while it serves (draining connections), then restores this
    # handler and raises the signal again; a drained shutdown is a clean exit, not death by signal.
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    address = cluster_address(args, settings)
    if address:
        return run_cluster_verb("serve", args, settings, address)
    import uvicorn

    from .app import DefaultEngineLoader, create_app
    from .connections import raise_fd_limit
    from .wiring import limit_threads

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    limit_threads(settings)
    raise_fd_limit()  # before uvicorn_config, which sizes the connection bound from it
    # The event loop shares the GIL with the engine threads' Python (scoring). It drops the GIL
    # at every socket call and, by default, waits up to 5 ms to get it back: under overload that
    # starved accepting and shedding (reliability row S3). A shorter interval keeps
    # the loop responsive at a small cost in thread switches.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = create_app(settings, engine_loader=DefaultEngineLoader(args.make_encoder))

    def _reload(signum: int, frame: FrameType | None) -> None:
        service = getattr(app.state, "service", None)  # absent until the lifespan has started
        if service is not None:
            service.runner.reload_soon()

    signal.signal(signal.SIGHUP, _reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    config = uvicorn_config(app, settings, host=args.host, port=args.port, log_level="info")
    uvicorn.Server(config).run()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "serve", help="serve the JSON API, chat widget and Slack command "
        "(SIGHUP: serve a newly published index)",
        description="Serve the JSON API (/v1/ask, /v1/search, /v1/documents), the chat widget "
        "and its demo page, and the Slack command over HTTP until SIGTERM or Ctrl-C. SIGHUP "
        "serves a newly published index version without a restart.")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_cluster_option(p)
    p.set_defaults(func=cmd_serve)
