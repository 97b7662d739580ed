"""What a newcomer's mistakes get from the command line: one clear line on stderr, the right exit
code (2 bad input or usage, 1 nothing usable), no traceback — and at once, before the model is
loaded (its first use exports it to ONNX). The model setting points at a folder that does not
exist, so any test that reached the model would fail with "model directory not found"."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import EXIT_FAIL, EXIT_USAGE, build_parser, main
from tests import fake_citeqa

REPO = Path(__file__).resolve().parents[1]


def fake_main(argv: list[str]) -> int:
    """``citeqa`` with the fake encoder at its model seam: no real model needed."""
    return fake_citeqa.main(argv, dim=32)


@pytest.fixture()
def no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings with no index yet and a model that cannot load; returns the work folder."""
    monkeypatch.chdir(tmp_path)  # no .env, and relative paths land here
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("CITEQA_MODEL", str(tmp_path / "model-never-loaded"))
    return tmp_path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_ingest_a_path_that_does_not_exist(
    no_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "/nonexistent/path"]) == EXIT_USAGE
    assert one_line(capsys.readouterr().err) == (
        "citeqa: /nonexistent/path: no such file or directory")


def test_ingest_a_file_of_another_type_names_what_is_read(
    no_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_model / "notes.rst").write_text("Some text.\n", encoding="utf-8")
    assert main(["ingest", "notes.rst"]) == EXIT_USAGE
    line = one_line(capsys.readouterr().err)
    assert "notes.rst: unsupported file type '.rst'" in line
    assert all(suffix in line for suffix in (".txt", ".md", ".html", ".pdf"))


def test_ingest_a_folder_of_other_types_names_them(
    no_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = no_model / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.rst").write_text("A.\n", encoding="utf-8")
    (docs / "sub" / "b.rst").write_text("B.\n", encoding="utf-8")
    (docs / "c.json").write_text("{}\n", encoding="utf-8")
    (docs / "a.meta.json").write_text("{}\n", encoding="utf-8")  # a sidecar, not a document
    (docs / ".hidden.rst").write_text("H.\n", encoding="utf-8")  # hidden: not counted
    assert main(["ingest", "docs"]) == EXIT_FAIL
    line = one_line(capsys.readouterr().err)
    assert line.startswith("citeqa: nothing usable was ingested")
    assert "3 files of other types (2 .rst, 1 .json)" in line


def test_ingest_errors_from_the_console_script_have_no_traceback(no_model: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "service.cli", "ingest", "/nonexistent/path"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_USAGE
    assert one_line(done.stderr) == "citeqa: /nonexistent/path: no such file or directory"


def test_ask_checks_the_question_first(
    no_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "   "]) == EXIT_USAGE  # no index either: the question is checked first
    assert one_line(capsys.readouterr().err) == "citeqa: the question is empty"


def test_ask_checks_the_index_before_loading_the_model(
    no_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "When was the MoU signed?"]) == EXIT_FAIL
    line = one_line(capsys.readouterr().err)
    assert line.startswith("citeqa: no index at ") and "citeqa ingest" in line


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The parser and every verb's (and sub-verb's) parser, by their command line."""
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_help_is_plain_text_and_every_argument_is_explained() -> None:
    parsers = _parsers(build_parser())
    assert {prog for prog, _ in parsers} >= {
        "citeqa", "citeqa ingest", "citeqa ask", "citeqa serve", "citeqa eval", "citeqa bench",
        "citeqa feedback", "citeqa feedback export"}
    for prog, parser in parsers:
        text = parser.format_help()
        assert "``" not in text, f"{prog} --help shows reStructuredText markup"
        unexplained = [a.dest for a in parser._actions if not (a.help or "").strip()]
        assert unexplained == [], f"{prog}: arguments without help: {unexplained}"


@pytest.mark.parametrize("verb", ["", "eval", "bench"])  # those whose text came from docstrings
def test_help_from_the_command_line(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*verb.split(), "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: citeqa {verb}".rstrip()) and "``" not in out


def test_ingest_skips_a_symlink_out_of_the_folder_unless_asked_to_follow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "index"))
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("The vault code is kept outside the corpus.\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("The corpus has one ordinary note.\n", encoding="utf-8")
    (corpus / "secret.txt").symlink_to(secret)

    assert fake_main(["ingest", "corpus", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "secret.txt" in out.err and "--follow-external-symlinks" in out.err
    assert ": 1 documents," in out.out and "skipped 1)" in out.out

    assert fake_main(["ingest", "corpus", "--quiet", "--follow-external-symlinks"]) == 0
    out = capsys.readouterr()
    assert "secret.txt" not in out.err and ": 2 documents," in out.out


def test_ask_with_an_answer_model_not_fitted_for_the_index_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "index"))
    (tmp_path / "note.txt").write_text("One note about ferries.\n", encoding="utf-8")
    # The fake encoder's index: one the shipped answer model was not fitted on.
    assert fake_main(["ingest", "note.txt", "--quiet"]) == 0
    capsys.readouterr()
    assert fake_main(["ask", "Which ferries run?"]) == EXIT_FAIL
    line = one_line(capsys.readouterr().err)
    assert "was not fitted for this index" in line
