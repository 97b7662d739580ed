"""How the coordinator reaches its shards: one method of ``ShardSearcher`` called on several
shards at once. ``LocalShards`` calls searchers in this process; ``ray_serve`` calls Ray Serve
deployments. A shard that cannot answer raises ``ShardUnavailable``: the coordinator then gives
no answer at all rather than one built from the other shards alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from service.problems import Problem

from .shard import ShardSearcher


class ShardUnavailable(Problem):
    """A shard did not answer; the message names it (and is safe to show). Through the service
    it is a 503 problem+json with Retry-After: no answer, never an answer from the other
    shards alone."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, f"{detail}: part of the collection cannot be searched, so no "
                         "answer is given; try again shortly", headers={"Retry-After": "5"},
                         extra={"partial": True})


class ShardCalls(Protocol):
    def __len__(self) -> int: ...

    def call(self, method: str, args: Mapping[int, tuple[Any, ...]]) -> dict[int, Any]:
        """``ShardSearcher.<method>(*args[shard])`` on every shard named in ``args``."""
        ...


class LocalShards:
    def __init__(self, searchers: Sequence[ShardSearcher]) -> None:
        self._searchers = list(searchers)

    def __len__(self) -> int:
        return len(self._searchers)

    @property
    def searchers(self) -> list[ShardSearcher]:
        return list(self._searchers)

    def call(self, method: str, args: Mapping[int, tuple[Any, ...]]) -> dict[int, Any]:
        return {shard: getattr(self._searchers[shard], method)(*a) for shard, a in args.items()}

    def close(self) -> None:
        for searcher in self._searchers:
            searcher.close()
