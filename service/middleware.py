"""One pure-ASGI middleware for every request: request id, body-size limit, a bound on requests
in flight, security headers, metrics and one structured log line.

Pure ASGI (not BaseHTTPMiddleware) so the body can be counted as it streams and nothing is buffered.
An exception that escapes the app is turned into a 500 problem+json here, inside this middleware,
so even that response carries the security headers and gets logged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

access_log = logging.getLogger("citeqa.access")
log = logging.getLogger("citeqa.service")

# Defaults for every response; a response that sets its own value keeps it.
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-site"),
)


# FastAPI's interactive docs load Swagger UI / ReDoc from a CDN with an inline bootstrap script.
_DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src https://cdn.jsdelivr.net; img-src data: https://fastapi.tiangolo.com; "
    b"worker-src blob:; connect-src 'self'; frame-ancestors 'none'"
)
_DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
# Cheap, engine-free, and what an orchestrator restarts the pod by: never shed.
_PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CLIENT_CLOSED = 499  # nginx's code for a request whose client went away before the answer


def _in_flight_limit(scope: Scope) -> int | None:
    """``limit_concurrency`` of the service's settings (the lifespan creates the service after
    this middleware is built, so it is looked up per request)."""
    service = getattr(getattr(scope.get("app"), "state", None), "service", None)
    return service.settings.limit_concurrency if service is not None else None


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the streamed body passes the limit (an HTTPException so that
    FastAPI's body parsing re-raises it instead of turning it into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def _problem_bytes(status: int, title: str, detail: str, request_id: str) -> bytes:
    return json.dumps({
        "type": "about:blank", "title": title, "status": status, "detail": detail,
        "request_id": request_id,
    }).encode()


class ServiceMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, slack_max_body_bytes: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.slack_max_body_bytes = slack_max_body_bytes
        self.in_flight = 0

    def _limit(self, path: str) -> int:
        return self.slack_max_body_bytes if path.startswith("/slack/") else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        limit = self._limit(scope["path"])
        status = 0
        received = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if scope["path"] in _DOCS_PATHS:
                    headers.append((b"content-security-policy", _DOCS_CSP))
                    present.add(b"content-security-policy")
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_problem(code: int, title: str, detail: str,
                               *extra: tuple[bytes, bytes]) -> None:
            body = _problem_bytes(code, title, detail, request_id)
            await send_wrapper({
                "type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), *extra],
            })
            await send_wrapper({"type": "http.response.body", "body": body})

        max_in_flight = _in_flight_limit(scope)
        shed = (max_in_flight is not None and self.in_flight >= max_in_flight
                and scope["path"] not in _PROBE_PATHS)
        self.in_flight += 1
        try:
            declared = Headers(scope=scope).get("content-length")
            if shed:
                await send_problem(503, "Service unavailable",
                                   "too many requests in progress; try again shortly",
                                   (b"retry-after", b"1"))
            elif declared is not None and (not declared.isdigit() or len(declared) > 18):
                await send_problem(400, "Bad request", "the Content-Length header is malformed")
            elif declared is not None and int(declared) > limit:
                await send_problem(413, "Content too large",
                                   f"the request body is larger than {limit} bytes")
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except BodyTooLarge as exc:
            if status:
                raise
            await send_problem(413, "Content too large", str(exc.detail))
        except ClientDisconnect:  # e.g. closed by the read deadline (connections.py) mid-body
            status = status or CLIENT_CLOSED
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            if status:
                raise
            await send_problem(500, "Internal server error",
                               "an unexpected error occurred; it has been logged")
        finally:
            self.in_flight -= 1
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.observe_request(scope["method"], route, status or 500, elapsed)
            access_log.info(json.dumps({
                "event": "request", "request_id": request_id, "method": scope["method"],
                "route": route, "status": status or 500, "ms": round(elapsed * 1e3, 2),
                "bytes_in": received,
                "client": (scope.get("client") or ("-",))[0],
            }))
