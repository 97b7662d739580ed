"""Connection hygiene under uvicorn: a deadline for reading each request, and bounds on the
connections one client address, and all clients, may hold open.

uvicorn times a connection out only while it idles between requests (``timeout_keep_alive``,
armed once a response is complete). A connection that sends nothing, half a request line or part
of a body is held for ever, and uvicorn's ``limit_concurrency`` counts those connections, so
enough silent sockets turned every request, the probes included, into a 503.

Here each connection has ``read_deadline_s`` from its start (or, on a kept-alive connection, from
the first byte of its next request) until its request, body included, has fully arrived; past
it the connection is closed (with a 408 when part of a request came). Connections are closed
early only while they wait on their client (idle, or a request still arriving), never while the
app answers them:

- a new connection from an address holding ``per_client`` or more closes that address's
  connections that have waited over STALE_AFTER_S, down to the bound. Younger ones stay: a burst
  of real requests from one address (Slack, a shared NAT) connects faster than it sends.
- at the total bound, the oldest connection still waiting on its client goes (under a flood,
  the flood's); only when every connection is being answered is the new one refused.

So a flood of idle sockets churns its own slots while other clients, and even a real request
from the flooding address, get in. Trusted proxies (``forwarded_allow_ips``) carry many clients
on one address and are not bounded per address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import resource
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Slack and the widget send a few KB; even a body at Slack's 256 KB limit arrives in time at
# 26 KB/s (256 KB over this deadline).
REQUEST_READ_DEADLINE_S = 10.0
# Far more than one instance answers at once; each idle connection costs a socket buffer and an fd.
MAX_OPEN_CONNECTIONS = 4096
# File descriptors kept for the rest of the process: index files, SQLite, logs, outbound posts.
FD_HEADROOM = 256
# A client sends its request within a round trip of connecting; a second also covers a slow
# mobile link and an event loop busy with a burst.
STALE_AFTER_S = 1.0

# scope["state"] key: time.monotonic() when the request's first byte was read. A handler with a
# deadline of its own (Slack's 3 s) counts from there, not from when the busy event loop got to it.
ARRIVED = "citeqa.arrived"

_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: 15\r\nconnection: close\r\n\r\nRequest Timeout")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ConnectionLimits:
    per_client: int
    total: int
    read_deadline_s: float = REQUEST_READ_DEADLINE_S
    trusted: tuple[Network, ...] = ()
    trust_all: bool = False

    @classmethod
    def for_server(cls, per_client: int, trusted_proxies: Iterable[str]) -> ConnectionLimits:
        entries = [entry.strip() for entry in trusted_proxies]
        networks = []
        for entry in entries:
            # "*" is handled below; a unix-socket literal has no address to bound
            with contextlib.suppress(ValueError):
                networks.append(ipaddress.ip_network(entry, strict=False))
        return cls(per_client=per_client, total=open_connection_cap(), trusted=tuple(networks),
                   trust_all="*" in entries)

    def bounds_per_client(self, host: str | None) -> bool:
        if host is None or self.trust_all:
            return False  # a unix socket is a local proxy's
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return True
        return not any(address in network for network in self.trusted)


def request_age_s(scope: Mapping[str, Any]) -> float:
    """Seconds since the request's first byte was read (0 where the guarded protocol did not
    serve it, e.g. an in-process ASGI client)."""
    arrived = scope.get("state", {}).get(ARRIVED)
    return time.monotonic() - arrived if arrived is not None else 0.0


def open_connection_cap() -> int:
    """The total bound: MAX_OPEN_CONNECTIONS, or fewer when the fd limit would be hit first
    (accept() failing with EMFILE would stall every client)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_OPEN_CONNECTIONS
    return max(16, min(MAX_OPEN_CONNECTIONS, soft - FD_HEADROOM))


def raise_fd_limit() -> None:
    """Lift the soft fd limit towards the hard one, so MAX_OPEN_CONNECTIONS fit (many systems
    default to a soft limit of 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_CONNECTIONS + FD_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class ConnectionTable:
    """One server's open connections, oldest first, overall and per bounded client address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: dict[GuardedHttpProtocol, str | None] = {}  # connection -> bounded address
        self._by_client: dict[str, dict[GuardedHttpProtocol, None]] = {}

    def admit(self, conn: GuardedHttpProtocol, host: str | None) -> bool:
        """Take ``conn`` in, closing waiting connections as the bounds say (module docstring);
        False when the total bound is reached and nothing can be closed (refuse ``conn``)."""
        bounded = host if self.limits.bounds_per_client(host) else None
        if bounded is not None:
            same = self._by_client.get(bounded, {})
            excess = len(same) + 1 - self.limits.per_client
            if excess > 0:
                for victim in _stale(same, excess):
                    self._evict(victim)
        if len(self._open) >= self.limits.total and not self._make_room():
            return False
        self._open[conn] = bounded
        if bounded is not None:
            self._by_client.setdefault(bounded, {})[conn] = None
        return True

    def remove(self, conn: GuardedHttpProtocol) -> None:
        bounded = self._open.pop(conn, None)
        if bounded is not None:
            same = self._by_client[bounded]
            same.pop(conn, None)
            if not same:
                del self._by_client[bounded]

    def _make_room(self) -> bool:
        victim = next((c for c in self._open if c.waiting_on_client()), None)
        if victim is None:
            return False
        self._evict(victim)
        return True

    def _evict(self, victim: GuardedHttpProtocol) -> None:
        self.remove(victim)  # now: its transport reports connection_lost only later
        victim.expire()


def _stale(conns: Iterable[GuardedHttpProtocol], most: int) -> list[GuardedHttpProtocol]:
    """Up to ``most`` of ``conns`` (oldest first) that have waited STALE_AFTER_S on their client.
    The scan stops at the first connection opened since: none after it can have waited as long,
    so a burst of new connections costs no scan of the burst."""
    out: list[GuardedHttpProtocol] = []
    for conn in conns:
        if conn.age() < STALE_AFTER_S or len(out) == most:
            break
        if conn.waited() >= STALE_AFTER_S:
            out.append(conn)
    return out


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request read deadline and a seat in a
    ``ConnectionTable`` (one per server: see ``guarded_protocol``)."""

    table: ClassVar[ConnectionTable]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._request_bytes = False  # part of a request that is not answered yet has arrived
        self._opened_at = self._waiting_since = self.loop.time()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.table.admit(self, self.client[0] if self.client else None):
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.table.remove(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._request_bytes = True
        super().data_received(data)  # cancels the keep-alive timer
        if self._deadline is None and self.waiting_on_client() and not self.transport.is_closing():
            self._arm()  # the next request on a kept-alive connection has begun

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["state"][ARRIVED] = time.monotonic()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        if self.waiting_on_client():  # answered before its body was in (a 413): idle from now
            self._request_bytes = False
            self._waiting_since = self.loop.time()
            self._arm()

    def on_response_complete(self) -> None:
        self._request_bytes = bool(self.pipeline)
        self._waiting_since = self.loop.time()
        super().on_response_complete()

    def waiting_on_client(self) -> bool:
        """True while no request of this connection is with the app: idle, or still arriving."""
        cycle = self.cycle
        return cycle is None or cycle.response_complete or cycle.more_body

    def age(self) -> float:
        return self.loop.time() - self._opened_at

    def waited(self) -> float:
        """Seconds this connection has waited on its client (0 while the app answers it)."""
        return self.loop.time() - self._waiting_since if self.waiting_on_client() else 0.0

    def expire(self) -> None:
        """Close: the request did not arrive in time, or the slot is needed for a new client."""
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if self._request_bytes and not answering:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.table.limits.read_deadline_s, self.expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class for one server (uvicorn's ``http=``), with its own connection table."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,),
                {"table": ConnectionTable(limits)})
