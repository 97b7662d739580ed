"""``citeqa serve [--host --port]``: the HTTP service under uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .settings import Settings


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> Any:
    """How the service runs under uvicorn (also used by the tests' live servers).

    X-Forwarded-For is honoured only from the proxies listed in ``forwarded_allow_ips``: uvicorn's
    default trusts 127.0.0.1, which would let any local caller choose its rate-limit key."""
    import uvicorn

    trusted = ",".join(settings.forwarded_allow_ips)
    values: dict[str, Any] = {
        "access_log": False,  # one JSON line per request comes from citeqa.access instead
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "timeout_graceful_shutdown": 10,
    }
    values.update(options)
    return uvicorn.Config(app, **values)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)
    config = uvicorn_config(create_app(settings), settings, host=args.host, port=args.port,
                            log_level="info")
    uvicorn.Server(config).run()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="serve the JSON API, chat widget and Slack command")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(func=cmd_serve)
