"""An in-process service for the A-row tests: the real app over a small real index built with the
hashing encoder (the fake at the model seam, tests/fake_encoder.py), so thousands of requests stay
fast."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from index.pipeline import ingest
from service.app import DefaultEngineLoader, create_app
from service.settings import Settings
from tests.answer_fixture import with_answer_model
from tests.fake_citeqa import hashing_encoders
from tests.fake_encoder import HashingEncoder
from tests.service_helpers import EXTRA_DOCS, SEEDS, LiveServer, running

HASHING_DIM = 32


def build_hashing_index(root: Path) -> Path:
    """seeds/ plus the hostile EXTRA_DOCS, indexed with the fake encoder of HASHING_DIM."""
    extra = root / "extra-docs"
    extra.mkdir(parents=True, exist_ok=True)
    for name, text in EXTRA_DOCS.items():
        (extra / name).write_text(text, encoding="utf-8")
    index_dir = root / "index"
    report = ingest([SEEDS, extra], index_dir, HashingEncoder(dim=HASHING_DIM), progress=False)
    assert report.published and not report.skipped
    return index_dir


@contextlib.contextmanager
def live_service(index_dir: Path, tmp: Path, *, wait_ready: bool = True,
                 **overrides: Any) -> Iterator[LiveServer]:
    """The real app under real uvicorn on a loopback port, over a hashing-encoder index."""
    with running(lambda url: hashing_settings(index_dir, tmp, **overrides), hashing_loader(),
                 wait_ready=wait_ready) as live:
        yield live


def hashing_loader() -> DefaultEngineLoader:
    """The app's own engine loader, building the fake encoder at its seam."""
    return DefaultEngineLoader(hashing_encoders(HASHING_DIM))


def hashing_settings(index_dir: Path, tmp: Path, **overrides: Any) -> Settings:
    """Settings for a service over a fake-encoder index (serve it with ``hashing_loader``)."""
    values: dict[str, Any] = {
        "index_dir": index_dir,
        "feedback_db": tmp / "feedback.sqlite3",
        "rate_limit_per_minute": 1e9,
        "rate_limit_burst": 1_000_000,
        "slack_rate_limit_per_minute": 1e9,
        "slack_rate_limit_burst": 1_000_000,
    }
    values.update(overrides)
    values = with_answer_model(values, tmp, HashingEncoder(dim=HASHING_DIM))
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class ReadyOnStartup:
    """The real app, whose lifespan startup completes only once the index is loaded.

    The app loads its index in the background so that /healthz answers at once; an in-process
    client (Schemathesis over ASGI) starts the lifespan itself and would otherwise see 503s
    "loading" for its first cases."""

    def __init__(self, app: FastAPI, timeout: float = 60.0) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_when_ready(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self._loaded()
            await send(message)

        await self.app(scope, receive, send_when_ready)

    async def _loaded(self) -> None:
        deadline = time.monotonic() + self.timeout
        while self.app.state.service.runner.state == "loading":
            if time.monotonic() > deadline:
                raise TimeoutError("the index did not load")
            await asyncio.sleep(0.01)
        assert self.app.state.service.runner.state == "ready"


def hashing_app(settings: Settings) -> ReadyOnStartup:
    """The real app, its engine loader building the fake encoder."""
    return ReadyOnStartup(create_app(settings, engine_loader=hashing_loader()))
