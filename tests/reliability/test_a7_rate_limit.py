"""A7: per-client rate limits through real uvicorn. A burst of 3× the bucket from one client gets
exactly the bucket, then 429 problem+json with Retry-After; a second client (another loopback
address) in parallel has its own bucket; X-Forwarded-For from an untrusted peer changes nothing;
probes are never limited."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .audit import ResponseAudit
from .common import report
from .service_app import live_service

BURST = 10
CLIENTS = ("127.0.0.1", "127.0.0.2")


@pytest.fixture(scope="module")
def api(hashing_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # ~no refill during the test: the bucket alone decides
    with live_service(hashing_index, tmp_path_factory.mktemp("a7"), rate_limit_burst=BURST,
                      rate_limit_per_minute=0.001) as live:
        yield live


def _burst(url: str, source: str, out: dict[str, list[httpx.Response]]) -> None:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, timeout=60) as client:
        out[source] = [
            client.get("/v1/documents/zz_ferry_timetable",
                       headers={"x-forwarded-for": f"203.0.113.{i}"}) if i % 2 else
            client.post("/v1/ask", json={"question": "How much are ferry tickets?"})
            for i in range(3 * BURST)
        ]


def test_a7_exact_counts_per_client(api: Any, audit: ResponseAudit) -> None:
    results: dict[str, list[httpx.Response]] = {}
    threads = [threading.Thread(target=_burst, args=(api.url, source, results))
               for source in CLIENTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    allowed = {s: sum(r.status_code == 200 for r in rs) for s, rs in results.items()}
    limited = [r for rs in results.values() for r in rs if r.status_code == 429]
    other = [r.status_code for rs in results.values() for r in rs if r.status_code not in (200,
                                                                                         429)]
    with_retry_after = [r for r in limited if int(r.headers.get("retry-after", "0")) >= 1]
    for rs in results.values():
        for response in rs:
            audit.check(response)
        first_429 = next(i for i, r in enumerate(rs) if r.status_code == 429)
        assert all(r.status_code == 200 for r in rs[:first_429])
        assert all(r.status_code == 429 for r in rs[first_429:])  # no token leaks back
    probe = audit.check(httpx.get(api.url + "/healthz", timeout=60))
    report(f"A7: burst 3×{BURST} from each of {len(CLIENTS)} clients in parallel (half with a "
           f"spoofed X-Forwarded-For) → allowed {sorted(allowed.values())} (= bucket {BURST} "
           f"exactly), {len(limited)} × 429, Retry-After on {len(with_retry_after)}/"
           f"{len(limited)}, 0 leaks across keys; probes not limited")
    assert allowed == dict.fromkeys(CLIENTS, BURST)
    assert other == [] and len(with_retry_after) == len(limited)
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in limited)
    assert probe.status_code == 200
