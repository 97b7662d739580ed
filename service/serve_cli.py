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

from .settings import Settings

GRACEFUL_SHUTDOWN_S = 10


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> Any:
    """How the service runs under uvicorn (also used by the tests' live servers).

    X-Forwarded-For is honoured only from the proxies listed in ``forwarded_allow_ips``: uvicorn's
    default trusts 127.0.0.1, which would let any local caller choose its rate-limit key.
    ``limit_concurrency`` is a last-resort bound on connections and tasks; the engine's bounded
    queue sheds load first, with problem+json and ``Retry-After``."""
    import uvicorn

    trusted = ",".join(settings.forwarded_allow_ips)
    values: dict[str, Any] = {
        "access_log": False,  # one JSON line per request comes from citeqa.access instead
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "limit_concurrency": settings.limit_concurrency,
    }
    values.update(options)
    return uvicorn.Config(app, **values)


GIL_SWITCH_INTERVAL_S = 0.0005


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM/SIGINT while it serves (draining connections), then restores this
    # handler and raises the signal again; a drained shutdown is a clean exit, not death by signal.
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import create_app
    from .wiring import limit_threads

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    limit_threads(settings)
    # The event loop shares the GIL with the engine threads' Python (scoring). It drops the GIL
    # at every socket call and, by default, waits up to 5 ms to get it back: under overload that
    # starved accepting and shedding (S3: shed p99 3.3 s with two engine threads). 0.5 ms keeps
    # the loop responsive at a small cost in thread switches.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = create_app(settings)

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
    p = subparsers.add_parser("serve", help="serve the JSON API, chat widget and Slack command "
                              "(SIGHUP: serve a newly published index)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(func=cmd_serve)
