"""A5/A8: every response an A-row test receives is checked for what must never leak (tracebacks,
file paths, exception class names, secrets, the request's own marker) and for the security
headers every response must carry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

LEAKS = re.compile(
    r"Traceback|File \"|/work/|/tmp/|/home/|site-packages|\.py\b|"
    r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b|\bat 0x[0-9a-f]+"
)
REQUIRED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# Static assets are the only responses allowed to be cached.
CACHEABLE = ("/widget.js", "/page.css")


@dataclass
class ResponseAudit:
    secrets: tuple[str, ...] = ()
    responses: int = 0
    leaks: list[str] = field(default_factory=list)
    missing_headers: list[str] = field(default_factory=list)

    def check(self, response: httpx.Response, *, marker: str | None = None,
              fault: bool = False) -> httpx.Response:
        """Record one response; returns it so calls can be chained. Error responses (and any
        answer to a fault-injected request) must hold no internals and not the ``marker`` the
        request carried; no response may hold a secret."""
        self.responses += 1
        where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        body = response.text
        problems = [s for s in self.secrets if s in body]
        if response.status_code >= 400 or fault:
            problems += [m.group(0) for m in LEAKS.finditer(body)]
            problems += [marker] if marker and marker in body else []
        if problems:
            self.leaks.append(f"{where}: {problems[:3]}")
        headers = response.headers
        missing = [n for n, v in REQUIRED.items() if headers.get(n) != v]
        if "content-security-policy" not in headers:
            missing.append("content-security-policy")
        if not response.request.url.path.endswith(CACHEABLE) and headers.get(
                "cache-control") != "no-store":
            missing.append("cache-control: no-store")
        if not headers.get("x-request-id"):
            missing.append("x-request-id")
        if missing:
            self.missing_headers.append(f"{where}: {missing}")
        return response

    def leak_figure(self) -> str:
        return (f"A5: {self.responses:,} responses scanned (the A-row tests, fault injection "
                f"included), {len(self.leaks)} leaks")

    def header_figure(self) -> str:
        compliant = self.responses - len(self.missing_headers)
        share = 100.0 * compliant / self.responses if self.responses else 0.0
        return (f"A8: {self.responses:,} responses, {compliant:,} with every security header "
                f"({share:.1f}% compliant)")
