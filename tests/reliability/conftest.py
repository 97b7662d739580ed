"""Session fixtures for the A-row tests: one small hashing-encoder index, and the audit that
checks every HTTP response those tests receive for leaks (A5) and security headers (A8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .audit import ResponseAudit
from .common import report
from .service_app import build_hashing_index


@pytest.fixture(scope="session")
def hashing_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hashing_index(tmp_path_factory.mktemp("a-index"))


@pytest.fixture(scope="session")
def audit() -> Iterator[ResponseAudit]:
    checked = ResponseAudit()
    yield checked
    if checked.responses:
        report(checked.leak_figure())
        report(checked.header_figure())
