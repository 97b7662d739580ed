"""A free loopback port for a server that will bind it a moment later (benchmarks, tests).

The usual trick, binding port 0 and closing the socket, picks a port from the kernel's ephemeral
range, the same range every other ``bind(0)`` and every outgoing connection draws from. Between
choosing and binding, something else can take it: Ray's gRPC servers start on port 0 while Serve
deploys, and Serve's proxy then fails with "Failed to bind to address". So the port is chosen
below that range (and above Ray's default worker ports), where the kernel never hands out ports
on its own.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000  # Ray's worker ports end at 19999 by default
TRIES = 200


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int] | None:
    """The kernel's ephemeral port range, or None where it cannot be read (not Linux)."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, rng: random.Random | None = None) -> int:
    """A port nothing listens on now, outside the ephemeral range when the range is known."""
    span = ephemeral_range()
    if span is not None and span[0] - 1 > LOWEST:
        pick = rng or random.SystemRandom()
        for _ in range(TRIES):
            port = pick.randint(LOWEST, span[0] - 1)
            if _bindable(host, port):
                return port
    with socket.socket() as sock:  # no room below the range: the kernel's choice
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
