"""The FastAPI app factory.

``create_app(settings)`` builds an app with no side effects; its lifespan opens the feedback store,
starts loading the index and model in the background (so ``/healthz`` answers at once) and
``/readyz`` stays 503 until the engine is loaded and a canary query has verified it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from retriever.engine import Engine

from . import api, pages, problems, slack
from .feedback import FeedbackStore
from .metrics import CONTENT_TYPE, Metrics
from .middleware import ServiceMiddleware
from .ratelimit import RateLimiter
from .runtime import EngineLoader, EngineRunner
from .settings import Settings
from .slack_post import ResponsePoster
from .wiring import open_engine

log = logging.getLogger("citeqa.service")

SHUTDOWN_GRACE_S = 5.0

DESCRIPTION = """Extractive question answering over a document collection.

Every answer is a sentence quoted verbatim from a document, with character-exact citations
(`text[start:end] == quote` in the text `GET /v1/documents/{doc_id}` returns), or an abstention:
`answer` is null and `abstained` true, and the citations are related passages, not an answer.
Errors are `application/problem+json` and never echo the request.
"""


def default_engine_loader(settings: Settings) -> Engine:
    return open_engine(settings)


@dataclass
class Service:
    """Everything the routes share, created by the lifespan (no module singletons)."""

    settings: Settings
    metrics: Metrics
    runner: EngineRunner
    feedback: FeedbackStore
    poster: ResponsePoster
    api_limiter: RateLimiter
    slack_limiter: RateLimiter
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run work after the response (Slack deliveries), keeping a reference until done."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def create_app(
    settings: Settings, *, engine_loader: EngineLoader = default_engine_loader
) -> FastAPI:
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(
            settings=settings,
            metrics=metrics,
            runner=EngineRunner(settings, engine_loader, metrics),
            feedback=FeedbackStore(settings.feedback_db),
            poster=ResponsePoster(
                allowed_prefixes=settings.slack_response_url_prefixes,
                max_posts=settings.slack_max_posts, window_s=settings.slack_post_window_s,
                timeout_s=settings.slack_post_timeout_s, metrics=metrics,
            ),
            api_limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
            slack_limiter=RateLimiter(settings.slack_rate_limit_per_minute,
                                      settings.slack_rate_limit_burst),
        )
        app.state.service = service
        service.spawn(service.runner.load())
        try:
            yield
        finally:
            if service.tasks:  # let Slack deliveries in flight finish, briefly
                _, late = await asyncio.wait(set(service.tasks), timeout=SHUTDOWN_GRACE_S)
                for task in late:
                    task.cancel()
            await service.poster.aclose()
            service.runner.close()
            service.feedback.close()

    app = FastAPI(
        title="citeqa", version="1", description=DESCRIPTION, lifespan=lifespan,
        openapi_tags=[
            {"name": "answers", "description": "Ask and search"},
            {"name": "documents", "description": "The text citations point into"},
            {"name": "feedback", "description": "Judgements of answers (also from Slack)"},
            {"name": "slack", "description": "Slack slash command and buttons"},
            {"name": "operations", "description": "Probes and metrics"},
        ],
    )
    problems.install(app)
    app.include_router(api.router)
    app.include_router(slack.router)
    app.include_router(pages.router)
    _add_operations(app, metrics)
    # Added first = innermost: CORS answers preflights inside our logging/header middleware.
    app.add_middleware(
        CORSMiddleware, allow_origins=list(settings.widget_origins), allow_credentials=False,
        allow_methods=["GET", "POST"], allow_headers=["content-type"], max_age=600,
    )
    app.add_middleware(
        ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
        slack_max_body_bytes=settings.slack_max_body_bytes,
    )
    return app


def _add_operations(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"],
             summary="Readiness: 200 once the index and model are loaded and verified",
             responses={503: {"description": "Still loading, or the index failed to load"}})
    async def readyz(request: Request) -> JSONResponse:
        runner: EngineRunner = request.app.state.service.runner
        if runner.engine is None:
            return JSONResponse({"status": runner.state}, status_code=503,
                                headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "index_version": runner.engine.version})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)
