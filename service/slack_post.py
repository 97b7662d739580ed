"""Posting to a Slack ``response_url``: only to allowed URLs, at most N times per window each.

Slack accepts 5 posts to one ``response_url`` within 30 minutes of the invocation; counting them
here means a sixth is dropped (and counted in metrics) rather than failing at Slack. Allowed URL
prefixes (default ``https://hooks.slack.com/``) keep a request signed by someone holding the secret
from turning the service into a proxy to arbitrary hosts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import httpx

from .metrics import Metrics

log = logging.getLogger("citeqa.slack")

# Slack's own budget for one response_url (5 posts within 30 minutes), so not a setting.
SLACK_MAX_POSTS = 5
SLACK_POST_WINDOW_S = 1800.0
# A post is a background delivery nobody waits on; one Slack has not taken by then is given up.
POST_TIMEOUT_S = 5.0


class PostBudget:
    def __init__(self, max_posts: int, window_s: float, *, max_urls: int = 10_000) -> None:
        self.max_posts = max_posts
        self.window_s = window_s
        self.max_urls = max_urls
        self._posts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, url: str) -> bool:
        """Count one post to ``url``; False when the window's budget is spent."""
        with self._lock:
            now = time.monotonic()
            times = self._posts.pop(url, None) or deque()
            while times and now - times[0] > self.window_s:
                times.popleft()
            allowed = len(times) < self.max_posts
            if allowed:
                times.append(now)
            self._posts[url] = times
            while len(self._posts) > self.max_urls:
                self._posts.popitem(last=False)
            return allowed


class ResponsePoster:
    def __init__(
        self, *, allowed_prefixes: list[str], metrics: Metrics, max_posts: int = SLACK_MAX_POSTS,
        window_s: float = SLACK_POST_WINDOW_S, timeout_s: float = POST_TIMEOUT_S,
    ) -> None:
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.budget = PostBudget(max_posts, window_s)
        self.metrics = metrics
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False,
                                         headers={"user-agent": "citeqa"})

    def allowed(self, url: str) -> bool:
        return (
            0 < len(url) <= 2000
            and url.startswith(("https://", "http://"))
            and not any(ch.isspace() for ch in url)
            and url.startswith(self.allowed_prefixes)
        )

    async def post(self, url: str, payload: dict[str, Any]) -> bool:
        if not self.allowed(url):
            self.metrics.slack_posts.labels("refused_url").inc()
            log.warning("not posting to a response_url outside the allowed prefixes")
            return False
        if not self.budget.take(url):
            self.metrics.slack_posts.labels("over_budget").inc()
            log.warning("response_url post budget spent; message dropped")
            return False
        try:
            response = await self._client.post(url, json=payload)
        except httpx.HTTPError as exc:
            self.metrics.slack_posts.labels("failed").inc()
            log.warning("response_url post failed: %s", type(exc).__name__)
            return False
        ok = response.is_success
        self.metrics.slack_posts.labels("ok" if ok else "failed").inc()
        if not ok:
            log.warning("response_url post answered %s", response.status_code)
        return ok

    async def aclose(self) -> None:
        await self._client.aclose()
