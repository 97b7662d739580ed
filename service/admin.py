"""``POST /admin/reload``: serve a newly published index version without a restart.

An operator endpoint, so it answers only when all of these hold, and otherwise looks like any
unknown path (404) or refuses (403):

- ``admin_token`` is set (unset: 404, the endpoint does not exist);
- the peer is a loopback address and the request carries no proxy header (``Forwarded``,
  ``X-Forwarded-For``, ``X-Real-IP``): a reverse proxy on the same host makes every outside
  request arrive from 127.0.0.1, which is why the token is required as well (else 404);
- ``Authorization: Bearer <admin_token>``, compared in constant time (else 403).

It is left out of the OpenAPI schema: the schema documents the public API that browsers, Slack and
API clients use (and that schema fuzzing exercises); this endpoint is for the machine's operator,
like SIGHUP to ``citeqa serve`` or the ``reload_poll_s`` setting, and is described in this module
and the settings' help text.

The answer says what happened: ``swapped`` (the new version is served from now on), ``unchanged``
(CURRENT names the served version already) or, with 409 problem+json, ``failed`` (the published
version was refused as missing, mismatched or corrupt; the previous one is still served).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from .problems import Problem
from .runtime import EngineRunner

router = APIRouter(include_in_schema=False)

PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_local(request: Request) -> bool:
    """A direct loopback peer, not a request relayed by a proxy."""
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
    return loopback and not any(name in request.headers for name in PROXY_HEADERS)


def authorize(request: Request, token: SecretStr | None) -> None:
    if token is None or not is_local(request):
        raise Problem(404, "Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Problem(403, "a valid admin token is required", title="Forbidden")


@router.post("/admin/reload")
async def reload(request: Request) -> JSONResponse:
    service = request.app.state.service
    authorize(request, service.settings.admin_token)
    runner: EngineRunner = service.runner
    result = asdict(await runner.reload())
    result["seconds"] = round(result["seconds"], 3)
    if result["outcome"] == "failed":
        served = result["index_version"] or "no version"
        raise Problem(409, f"the published index was refused ({result['reason']}); still serving "
                      f"{served}", extra=result)
    return JSONResponse(result)
