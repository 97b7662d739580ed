"""A bad setting is a clear usage error naming the variable, never a traceback or the value."""

from __future__ import annotations

import pytest

from service.cli import EXIT_USAGE, main


def test_invalid_settings_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITEQA_TOP_K", "999")
    monkeypatch.setenv("CITEQA_ADMIN_TOKEN", "s3cret-short")
    assert main(["ask", "When was the MoU signed?"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "CITEQA_TOP_K" in err and "CITEQA_ADMIN_TOKEN" in err
    assert "s3cret-short" not in err and "Traceback" not in err
