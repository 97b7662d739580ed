"""RFC 9457 ``application/problem+json`` errors.

Every error the service returns goes through here, so none echoes the request's input (FastAPI's
default 422 body does, CWE-209) or carries a traceback: validation errors keep only the location
(schema names) and pydantic's generic message; anything unexpected becomes a bare 500 with the
request id to look up in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .models import ProblemBody

log = logging.getLogger("citeqa.service")

PROBLEM_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Timed out",
}


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for a problem+json error."""
    return {"description": description,
            "content": {PROBLEM_TYPE: {"schema": ProblemBody.model_json_schema()}}}


class Problem(Exception):
    """Raise to answer with a problem+json body. ``detail`` must never contain request input."""

    def __init__(
        self, status: int, detail: str, *, title: str | None = None,
        headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or _TITLES.get(status, "Error")
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(
    request: Request | None, status: int, detail: str, *, title: str | None = None,
    headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        route = request.scope.get("route")
        body["instance"] = getattr(route, "path", None) or "/"  # the template, never raw input
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


def _safe_location(error: dict[str, Any]) -> list[str | int]:
    """The error's location with user-chosen keys removed (an unexpected field's name is input)."""
    loc = list(error.get("loc", ()))
    if error.get("type") == "extra_forbidden" and loc:
        loc[-1] = "(unexpected field)"
    return [part if isinstance(part, int) else str(part)[:64] for part in loc]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors()[:20]:
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        out.append({"loc": _safe_location(error), "msg": message[:200], "type": error.get("type")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, title=exc.title,
                                headers=exc.headers, extra=exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, 422, "the request does not match the schema",
                                extra={"errors": _validation_errors(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own details ("Not Found", "Method Not Allowed") never hold input.
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(request, exc.status_code, detail[:200],
                                headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id")
        log.error("unhandled error (request %s)", request_id, exc_info=exc)
        return problem_response(request, 500, "an unexpected error occurred; it has been logged")
