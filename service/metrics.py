"""Prometheus metrics, one registry per app (so several apps in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from retriever.schema import Answer

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "citeqa_http_requests", "HTTP requests by route template and status",
            ["method", "route", "status"], registry=r,
        )
        self.latency = Histogram(
            "citeqa_http_request_duration_seconds", "HTTP request latency by route template",
            ["route"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.stage = Histogram(
            "citeqa_answer_stage_seconds",
            "Time per answering stage (queue: waiting for the engine; embed, retrieve, score "
            "(pre-ranker), read (answer model), answer, total: inside the engine)",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.answers = Counter(
            "citeqa_answers", "Answers given, by outcome (answered or abstained)",
            ["outcome", "channel"], registry=r,
        )
        self.abstention_rate = Gauge(
            "citeqa_abstention_rate", "Share of answers that abstained since start", registry=r,
        )
        self.index_info = Gauge(
            "citeqa_index_info", "The index version being served (value 1)", ["version"],
            registry=r,
        )
        self.ready = Gauge("citeqa_ready", "1 when the index is loaded and verified", registry=r)
        self.feedback = Counter(
            "citeqa_feedback", "Feedback received", ["helpful", "channel"], registry=r,
        )
        self.slack_posts = Counter(
            "citeqa_slack_response_url_posts", "Posts to Slack response_url by outcome",
            ["outcome"], registry=r,
        )
        self.reloads = Counter(
            "citeqa_index_reloads", "Index reload attempts by outcome (swapped, unchanged, failed: "
            "the newly published version was refused and the served one kept)", ["outcome"],
            registry=r,
        )
        self._answered = 0
        self._abstained = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_answer(self, answer: Answer, channel: str, queue_ms: float) -> None:
        self.stage.labels("queue").observe(queue_ms / 1e3)
        for stage, ms in answer.timings_ms.items():
            self.stage.labels(stage).observe(ms / 1e3)
        outcome = "abstained" if answer.abstained else "answered"
        self.answers.labels(outcome, channel).inc()
        if answer.abstained:
            self._abstained += 1
        else:
            self._answered += 1
        self.abstention_rate.set(self._abstained / (self._abstained + self._answered))

    def set_index(self, version: str | None) -> None:
        self.index_info.clear()
        if version:
            self.index_info.labels(version).set(1)
        self.ready.set(1 if version else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
