"""A12: idle and slow connections cannot take the service down. A real ``citeqa serve`` gets
1,000 sockets from one address that send nothing, half a request line, or headers and part of a
body. While they are open, /healthz and /v1/ask answer 200 both from another address and from the
flooding one; once the flood's sockets are stale, a new connection from its address trims them to
the per-address bound; each held request is closed by the read deadline (with a 408 when part of
a request came), an idle kept-alive connection by the keep-alive timeout; the service stays up.
The last-resort bound (``limit_concurrency``) counts requests in flight, not connections, and
never sheds the probes."""

from __future__ import annotations

import resource
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from service.connections import REQUEST_READ_DEADLINE_S, STALE_AFTER_S
from service.serve_cli import KEEP_ALIVE_S

from .common import copy_index, report
from .loadgen import ServerProcess, fmt, percentiles, serve_env
from .service_app import HASHING_DIM, live_service

FLOOD = 1000
PROBES = 10
PER_CLIENT = 32  # the default max_connections_per_client
FLOODER, OTHER, WATCHED = "127.0.0.1", "127.0.0.2", "127.0.0.3"
STALLS = {  # what a held connection sent
    "silent": b"",
    "half request line": b"GET /hea",
    "partial body": (b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"question\": \"When"),
}


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (
            wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


def _stalled(port: int, source: str, data: bytes) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    try:
        if data:
            sock.sendall(data)
    except OSError:
        pass  # already closed by the server: an evicted connection
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket) -> tuple[bool, bytes]:
    """(closed by the server, what it sent), without waiting."""
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False, got
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk


def _wait_closed(socks: dict[str, socket.socket], since: float,
                 limit_s: float) -> dict[str, tuple[float, bytes]]:
    """Seconds from ``since`` until the server closed each socket, and what it sent first."""
    poller = select.poll()
    by_fd = {sock.fileno(): name for name, sock in socks.items()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    out: dict[str, tuple[float, bytes]] = {}
    sent: dict[str, bytes] = {}
    while len(out) < len(socks) and time.monotonic() < since + limit_s:
        for fd, _ in poller.poll(100):
            name = by_fd[fd]
            closed, data = _closed(socks[name])
            sent[name] = sent.get(name, b"") + data
            if closed:
                out[name] = (time.monotonic() - since, sent[name])
                poller.unregister(fd)
    return out


def _probe(url: str, source: str, path: str) -> tuple[int, float]:
    """One request on a new connection from ``source``: (status or 0, ms)."""
    started = time.monotonic()
    transport = httpx.HTTPTransport(local_address=source)
    try:
        with httpx.Client(transport=transport, timeout=10) as client:
            if path == "/v1/ask":
                response = client.post(url + path, json={"question": "How much are ferry "
                                                                     "tickets for adults?"})
            else:
                response = client.get(url + path)
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return status, (time.monotonic() - started) * 1e3


def _watched(port: int) -> tuple[dict[str, socket.socket], float]:
    """One connection of each stalled kind from another address, and a kept-alive one that has
    had its answer; returns them and when they were opened."""
    opened = time.monotonic()
    socks = {kind: _stalled(port, WATCHED, data) for kind, data in STALLS.items()}
    keep = _stalled(port, WATCHED, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 10
    answer = b""
    while b'{"status":"ok"}' not in answer and time.monotonic() < deadline:
        select.select([keep], [], [], 0.1)
        answer += _closed(keep)[1]
    assert b"200 OK" in answer, answer
    socks["idle keep-alive"] = keep
    return socks, opened


def test_a12_idle_sockets_do_not_block(tmp_path: Path, hashing_index: Path) -> None:
    _raise_fd_limit(FLOOD + 1024)
    index_dir = tmp_path / "index"
    copy_index(hashing_index, index_dir)
    env = serve_env(index_dir, tmp_path, fake_dim=HASHING_DIM)
    with ServerProcess(tmp_path, env, fake_dim=HASHING_DIM) as server:
        server.wait_ready(timeout=180)
        watched, watched_at = _watched(server.port)
        # Watched while the probes run, so a close is timed when it happens, however long the
        # probes take on a busy machine.
        watcher = ThreadPoolExecutor(1)
        closing = watcher.submit(_wait_closed, watched, watched_at, REQUEST_READ_DEADLINE_S + 10)
        flood_at = time.monotonic()
        kinds = list(STALLS.values())
        flood = [_stalled(server.port, FLOODER, kinds[i % len(kinds)]) for i in range(FLOOD)]
        flood_s = time.monotonic() - flood_at
        probes: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for n in range(PROBES):
            if n == PROBES - 1:  # the flood's sockets are stale now: a new one trims them
                time.sleep(max(0.0, flood_at + flood_s + STALE_AFTER_S + 0.2 - time.monotonic()))
            for source in (OTHER, FLOODER):
                for path in ("/healthz", "/v1/ask"):
                    probes.setdefault((source, path), []).append(
                        _probe(server.url, source, path))
        held = sum(not _closed(sock)[0] for sock in flood)
        closed = closing.result()
        watcher.shutdown()
        time.sleep(max(0.0, flood_at + flood_s + REQUEST_READ_DEADLINE_S + 2 - time.monotonic()))
        flood_left = sum(not _closed(sock)[0] for sock in flood)
        after = _probe(server.url, FLOODER, "/healthz")[0]
        alive = server.proc.poll() is None
        for sock in [*flood, *watched.values()]:
            sock.close()
    ok = {key: sum(status == 200 for status, _ in got) for key, got in probes.items()}
    p99 = {key: percentiles([ms for _, ms in got], (50, 99)) for key, got in probes.items()}
    report(
        f"A12: {FLOOD} stalled sockets from one address in {flood_s:.2f} s (silent, half a "
        f"request line, part of a body) → /healthz {ok[OTHER, '/healthz']}/{PROBES} × 200 from "
        f"another address (p50/p99 {fmt(p99[OTHER, '/healthz'])} ms), "
        f"{ok[FLOODER, '/healthz']}/{PROBES} from the flooding one "
        f"({fmt(p99[FLOODER, '/healthz'])} ms); /v1/ask {ok[OTHER, '/v1/ask']}/{PROBES} and "
        f"{ok[FLOODER, '/v1/ask']}/{PROBES} × 200 ({fmt(p99[OTHER, '/v1/ask'])} and "
        f"{fmt(p99[FLOODER, '/v1/ask'])} ms); the flood held {held} connections "
        f"(per-address bound {PER_CLIENT}), {flood_left} after the read deadline; closed by the "
        f"server after " + ", ".join(
            f"{kind} {closed[kind][0]:.1f} s" + (" (408)" if b" 408 " in closed[kind][1] else "")
            for kind in watched if kind in closed)
        + f" (read deadline {REQUEST_READ_DEADLINE_S:.0f} s, keep-alive {KEEP_ALIVE_S} s)"
    )
    assert all(n == PROBES for n in ok.values()), probes
    assert held <= PER_CLIENT
    assert flood_left == 0
    assert set(closed) == set(watched), closed
    for kind, data in STALLS.items():
        seconds, sent = closed[kind]
        assert REQUEST_READ_DEADLINE_S - 0.5 <= seconds <= REQUEST_READ_DEADLINE_S + 5, kind
        assert (b" 408 " in sent) == bool(data), (kind, sent)
    assert KEEP_ALIVE_S - 0.5 <= closed["idle keep-alive"][0] <= KEEP_ALIVE_S + 5
    assert after == 200 and alive


def test_a12_in_flight_bound_spares_probes(tmp_path: Path, hashing_index: Path) -> None:
    bound = 3
    with live_service(hashing_index, tmp_path, limit_concurrency=bound) as live:
        idle = [_stalled(live.port, WATCHED, b"") for _ in range(2 * bound)]
        probes_idle = [_probe(live.url, OTHER, path)[0] for path in ("/healthz", "/v1/ask")]
        held = [_stalled(live.port, WATCHED, STALLS["partial body"]) for _ in range(bound)]
        time.sleep(0.5)  # their requests are with the app, waiting for the rest of the body
        with httpx.Client(timeout=10) as client:
            shed = client.get(live.url + "/v1/documents/zz_ferry_timetable")
            probes_full = [client.get(live.url + path).status_code
                           for path in ("/healthz", "/readyz", "/metrics")]
        for sock in [*idle, *held]:
            sock.close()
        time.sleep(0.5)
        after = _probe(live.url, OTHER, "/v1/ask")[0]
    report(f"A12: limit_concurrency {bound} with {2 * bound} idle connections open → /healthz, "
           f"/v1/ask {probes_idle}; with {bound} requests in flight → /v1/documents "
           f"{shed.status_code} (Retry-After {shed.headers.get('retry-after')}), probes "
           f"{probes_full}; afterwards /v1/ask {after}")
    assert probes_idle == [200, 200]
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.headers["content-type"].startswith("application/problem+json")
    assert probes_full == [200, 200, 200] and after == 200
