"""Latency of the running service over real HTTP: ``python -m eval.bench.http_measure``.

Starts ``citeqa serve`` in a subprocess on a free loopback port (eval.bench.server; the index from
settings, or ``--index-dir``), waits for /readyz, warms up, then reports

- POST /v1/ask wall time per request (client side, keep-alive) for every gold question, and the
  engine's own ``timings_ms.total`` beside it;
- the Slack slash-command acknowledgement time for ``--slack`` signed commands, with answers
  inline (the default), and with ``slack_inline_ms=0`` (acknowledge at once, answer posted to
  ``response_url``, received here by a local HTTP server: the delivery time is reported too).

Numbers depend on the machine and on what else runs on it; the report says how many cores it had.
``citeqa bench`` is the full benchmark; this script keeps the Slack timings.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from eval.bench.latency import over_http
from eval.bench.measure import Latency
from eval.bench.server import UNLIMITED, serve
from service.ports import free_port

GOLD = Path(__file__).resolve().parents[1] / "gold.jsonl"


def _fields(latency: Latency) -> dict[str, float]:
    return {"n": latency.count, "p50": round(latency.p50_ms, 1), "p95": round(latency.p95_ms, 1),
            "p99": round(latency.p99_ms, 1), "mean": round(latency.mean_ms, 1)}


def summary(values_ms: list[float]) -> dict[str, float]:
    return _fields(Latency.of(values_ms))


class Receiver:
    """Stands in for Slack's response_url endpoint and timestamps every post."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        arrivals = self.arrivals

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", "0")))
                arrivals[self.path] = time.perf_counter()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def measure_ask(url: str, questions: list[str], warmup: int) -> dict[str, Any]:
    result = over_http(url, questions, questions[:warmup], "gold")
    return {"http_ms": _fields(result.wall), "engine_total_ms": _fields(result.stages["total"]),
            "abstained": result.abstained}


def _signed_command(secret: str, text: str, response_url: str) -> tuple[str, dict[str, str]]:
    body = urlencode({"team_id": "T1", "user_id": "U1", "command": "/ask", "text": text,
                      "response_url": response_url, "channel_id": "C1"})
    ts = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def measure_slack(url: str, secret: str, questions: list[str], n: int,
                  receiver: Receiver | None) -> dict[str, Any]:
    acks, delivered, inline = [], [], 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(n):
            path = f"/hook/{i}-{secrets.token_hex(4)}"
            response_url = (receiver.base if receiver else "https://hooks.slack.com") + path
            body, headers = _signed_command(secret, questions[i % len(questions)], response_url)
            t0 = time.perf_counter()
            response = client.post("/slack/commands", content=body, headers=headers)
            acks.append((time.perf_counter() - t0) * 1e3)
            response.raise_for_status()
            if response.json().get("blocks"):
                inline += 1
            elif receiver is not None:
                deadline = time.perf_counter() + 30
                while path not in receiver.arrivals and time.perf_counter() < deadline:
                    time.sleep(0.002)
                if path in receiver.arrivals:
                    delivered.append((receiver.arrivals[path] - t0) * 1e3)
    out: dict[str, Any] = {"ack_ms": summary(acks), "answered_inline": inline}
    if delivered:
        out["delivered_ms"] = summary(delivered)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench.http_measure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir",
                        help="index to serve (default: CITEQA_INDEX_DIR or var/index)")
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--slack", type=int, default=20, help="signed slash commands to send")
    parser.add_argument("--out", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)

    questions = [json.loads(line)["question"] for line in args.gold.read_text().splitlines()
                 if line.strip()]
    secret = secrets.token_hex(16)
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **UNLIMITED,
            "CITEQA_SLACK_SIGNING_SECRET": secret,
            "CITEQA_FEEDBACK_DB": str(Path(tmp) / "feedback.sqlite3"),
            "CITEQA_SLACK_RESPONSE_URL_PREFIXES": json.dumps([receiver.base + "/"]),
        }
        if args.index_dir:
            env["CITEQA_INDEX_DIR"] = args.index_dir
        report: dict[str, Any] = {"cpus": os.cpu_count(), "questions": len(questions),
                                  "warmup": args.warmup}
        with serve(env, free_port()) as served:
            url = served.url
            report["ready_s"] = round(served.ready_s, 1)
            report["ask"] = measure_ask(url, questions, args.warmup)
            report["slack_inline"] = measure_slack(url, secret, questions, args.slack, receiver)
        with serve({**env, "CITEQA_SLACK_INLINE_MS": "0"}, free_port()) as served:
            measure_ask(served.url, questions[: args.warmup], 0)  # warm-up only
            report["slack_deferred"] = measure_slack(served.url, secret, questions, args.slack,
                                                     receiver)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
