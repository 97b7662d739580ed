"""The FastAPI app factory.

``create_app(settings)`` builds an app with no side effects; its lifespan opens the feedback store,
starts loading the index and model in the background (so ``/healthz`` answers at once) and
``/readyz`` stays 503 until the engine is loaded and a canary query has verified it. A newly
published version replaces it without a restart on ``POST /admin/reload`` (admin.py), SIGHUP
(serve_cli.py) or, with ``reload_poll_s``, when CURRENT changes; a version that fails to load or
verify is refused and the served one kept (runtime.py).
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
from fastapi.responses import JSONResponse, PlainTextResponse

from index.embed import Encoder
from retriever.answer_model import AnswerModel
from retriever.engine import Engine

from . import admin, api, pages, problems, slack
from .feedback import FeedbackStore
from .metrics import CONTENT_TYPE, Metrics
from .middleware import ServiceMiddleware
from .ratelimit import RateLimiter
from .runtime import EngineLoader, EngineRunner, shareable
from .settings import Settings
from .slack_post import ResponsePoster
from .wiring import EncoderFactory, make_encoder, make_reader, open_engine

log = logging.getLogger("citeqa.service")

SHUTDOWN_GRACE_S = 5.0

DESCRIPTION = """Extractive question answering over a document collection.

Every answer is a sentence quoted verbatim from a document, with character-exact citations
(`text[start:end] == quote` in the text `GET /v1/documents/{doc_id}` returns), or an abstention:
`answer` is null and `abstained` true, and the citations are related passages, not an answer.
Errors are `application/problem+json` and never echo the request.
"""


class DefaultEngineLoader:
    """Opens CURRENT with one encoder and one answer model for the app's lifetime: a reload must
    not load the models again (seconds, and a second copy in memory). Reloads load and verify on
    the loader thread while the engine threads answer, so both must be safe to share (see
    runtime.py; an ONNX Runtime session is)."""

    def __init__(self, make_encoder: EncoderFactory = make_encoder) -> None:
        self._make_encoder = make_encoder  # the model seam (tests pass their fake)
        self._encoder: Encoder | None = None
        self._reader: AnswerModel | None = None

    def __call__(self, settings: Settings) -> Engine:
        if self._encoder is None:  # only the loader thread calls this
            self._encoder = shareable(self._make_encoder(settings, for_questions=True), settings)
        if self._reader is None:
            self._reader = make_reader(settings)
        return open_engine(settings, self._encoder, self._reader)


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
    settings: Settings, *, engine_loader: EngineLoader | None = None
) -> FastAPI:
    metrics = Metrics()
    loader = engine_loader or DefaultEngineLoader()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(
            settings=settings,
            metrics=metrics,
            runner=EngineRunner(settings, loader, metrics),
            feedback=FeedbackStore(settings.feedback_db),
            poster=ResponsePoster(allowed_prefixes=settings.slack_response_url_prefixes,
                                  metrics=metrics),
            api_limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
            slack_limiter=RateLimiter(settings.slack_rate_limit_per_minute,
                                      settings.slack_rate_limit_burst),
        )
        app.state.service = service
        service.spawn(service.runner.load())
        if settings.reload_poll_s is not None:
            service.runner.start_watching(settings.reload_poll_s)
        try:
            yield
        finally:
            if service.tasks:  # let Slack deliveries in flight finish, briefly
                _, late = await asyncio.wait(set(service.tasks), timeout=SHUTDOWN_GRACE_S)
                for task in late:
                    task.cancel()
            await service.poster.aclose()
            await service.runner.aclose()
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
    app.include_router(admin.router)
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
        engine = runner.engine
        if engine is None:
            return JSONResponse({"status": runner.state}, status_code=503,
                                headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "index_version": engine.version,
                             "answer_model": engine.reader.info.name})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=PlainTextResponse)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)
