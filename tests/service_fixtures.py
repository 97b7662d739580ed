"""Session fixtures for the service tests (test_api, test_slack and test_widget load this module
with ``pytest_plugins``): the real model shared by every live server, and a real index — the seed
index from tests/conftest.py plus two small documents with hostile text.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.pipeline import ingest
from tests.service_helpers import EXTRA_DOCS, SEEDS, SlackReceiver


@pytest.fixture(scope="session")
def shared_encoder(real_encoder: Any) -> Any:
    # The session's one real model, shared by every server (each answering on several threads)
    # exactly as the service shares it: the default ONNX encoder is safe to call concurrently.
    return real_encoder


@pytest.fixture(scope="session")
def service_index(
    tmp_path_factory: pytest.TempPathFactory, seed_index: Path, real_encoder: Any
) -> Path:
    """The seed index plus EXTRA_DOCS (an incremental ingest: the seeds' vectors are reused)."""
    extra = tmp_path_factory.mktemp("extra-docs")
    for name, text in EXTRA_DOCS.items():
        (extra / name).write_text(text, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("service-index") / "index"
    shutil.copytree(seed_index, index_dir, ignore=shutil.ignore_patterns(".lock"))
    report = ingest([SEEDS, extra], index_dir, real_encoder, progress=False)
    assert report.published and not report.skipped
    return index_dir


# A real configuration that makes every question abstain: no calibrated confidence reaches 1.
ALWAYS_ABSTAIN = {"abstain_threshold": 1.0}


@pytest.fixture(scope="session")
def slack_receiver() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.close()
