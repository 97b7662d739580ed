"""The README's `make demo` takes the address to serve on (a dry run: nothing is executed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _demo_commands(*assignments: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(["make", "-n", "-C", str(REPO), "demo", *assignments],
                         capture_output=True, text=True, timeout=60, check=True, env=env)
    return [line for line in out.stdout.splitlines() if "citeqa serve" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_serves_on_the_given_host_and_port() -> None:
    assert _demo_commands()[-1].endswith("citeqa serve --host 127.0.0.1 --port 8000")
    assert _demo_commands("PORT=8123", "HOST=127.0.0.2")[-1].endswith(
        "citeqa serve --host 127.0.0.2 --port 8123")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_ignores_a_host_name_exported_by_the_shell() -> None:
    env = {**os.environ, "HOST": "build-box.example.org", "PORT": "8124"}
    assert _demo_commands(env=env)[-1].endswith("citeqa serve --host 127.0.0.1 --port 8124")
