"""A1: Schemathesis against the OpenAPI schema, in process (ASGI), with every check, positive and
negative data and a fixed seed (Hypothesis derandomized), one test per operation and mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from service.app import create_app
from service.settings import Settings

from .common import FULL, report
from .service_app import build_hashing_index, hashing_app, hashing_settings

SLACK_SECRET = "a1-slack-secret-0123456789abcdef"
EXAMPLES = 300 if FULL else 100  # per operation and generation mode


def _plan() -> list[tuple[str, GenerationMode]]:
    """(operation, mode) pairs, read from the schema of an app that is never started. Negative
    data needs something to break: operations without parameters or a body get positive only."""
    paths = create_app(Settings(_env_file=None)).openapi()["paths"]  # type: ignore[call-arg]
    plan = []
    for path, item in sorted(paths.items()):
        for method, op in sorted(item.items()):
            plan.append((f"{method.upper()} {path}", GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                plan.append((f"{method.upper()} {path}", GenerationMode.NEGATIVE))
    return plan


PLAN = _plan()
# Deliberate settings, each narrow (every check runs on every case):
# - 413 counts as a rejection of negative data and as a legitimate answer to positive data: the
#   body-size limit is in bytes, which JSON Schema cannot state (a schema-valid 20,000-character
#   feedback answer does not fit in 16 KiB), and 413 is declared on every /v1 operation.
# - POST /v1/feedback checks rules JSON Schema cannot state (start <= end; the cited document and
#   offsets exist in the served index; answer present exactly when not abstained) and answers 422
#   for them, so 422 is also accepted for schema-valid data there.
_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
_NEGATIVE = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
             "5xx"]  # 5xx stays in both lists: not_a_server_error is the check that fails those
CONFIG = {
    "checks": {"positive_data_acceptance": {"expected-statuses": _POSITIVE},
               "negative_data_rejection": {"expected-statuses": _NEGATIVE}},
    "operations": [
        {"include-path": "/v1/feedback", "include-method": "POST", "checks": {
            "positive_data_acceptance": {"expected-statuses": [*_POSITIVE, "422"]}}},
    ],
}
OPERATIONS = sorted({label for label, _ in PLAN})


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    yield counts
    report(f"A1: {counts['cases']:,} cases over {len(OPERATIONS)} operations "
           f"({len(PLAN)} operation×mode runs of up to {EXAMPLES} examples, every check), "
           f"{counts['5xx']} 5xx, {counts['failures']} check failures (scoped settings: 413 is a "
           "rejection; 422 accepted for /v1/feedback's cross-field rules)")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("a1")
    settings_ = hashing_settings(build_hashing_index(root), root,
                                 slack_signing_secret=SLACK_SECRET)
    return schemathesis.openapi.from_asgi("/openapi.json", hashing_app(settings_),
                                          config=schemathesis.Config.from_dict(CONFIG))


@pytest.mark.parametrize(("label", "mode"), PLAN, ids=[f"{op}-{m.value}" for op, m in PLAN])
def test_a1_schema_conformance(label: str, mode: GenerationMode, api_schema: Any,
                               tally: Counter[str]) -> None:
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    def run(case: Any) -> None:
        tally["cases"] += 1
        try:
            response = case.call_and_validate()
        except BaseException:
            tally["failures"] += 1
            raise
        tally["5xx"] += response.status_code >= 500

    run()
