"""Ingest progress counts characters, inside one large file, with a rate (issue 15)."""

from __future__ import annotations

import re

import numpy as np

from index.pipeline import ingest
from tests.fake_encoder import HashingEncoder

from .conftest import SEEDS

# tqdm's line: "ingest:  45%|####  | 90.3k/201k [00:00<00:00, 310kchar/s, embedding big.txt]"
_LINE = re.compile(r"(\d+(?:\.\d+)?)([kMG]?)/(\d+(?:\.\d+)?)([kMG]?) \[[^<]*<[^,]*, ([^\]]*)\]")
_SCALE = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


def _big_file(folder):
    text = "\n\n".join(p.read_text() for p in sorted(SEEDS.glob("*.txt")))
    folder.mkdir()
    (folder / "big.txt").write_text((text + "\n\n") * 16)  # ~0.4 MB: seconds with hashing
    return folder


def _updates(stderr: str) -> list[tuple[float, float, str]]:
    out = []
    for line in re.split(r"[\r\n]", stderr):
        m = _LINE.search(line)
        if m:
            done = float(m[1]) * _SCALE[m[2]]
            total = float(m[3]) * _SCALE[m[4]]
            out.append((done, total, m[5]))
    return out


def test_one_large_file_shows_progress_inside_it_with_a_rate(tmp_path, capsys):
    report = ingest([_big_file(tmp_path / "src")], tmp_path / "ix", HashingEncoder(dim=64),
                    progress=True)
    assert report.published and report.embedded == ["big"]
    updates = _updates(capsys.readouterr().err)
    inside = [u for u in updates if 0 < u[0] < u[1]]
    assert len(inside) >= 3, updates  # several updates before the one file is done
    done, total, tail = updates[-1]
    assert done == total and total > 100_000
    assert re.match(r"\d+(\.\d+)?[kMG]?char/s", tail), tail  # the final line shows a rate
    assert any("embedding big.txt" in u[2] for u in inside)


def test_no_progress_prints_nothing(tmp_path, capsys):
    ingest([_big_file(tmp_path / "src")], tmp_path / "ix", HashingEncoder(dim=64),
           progress=False)
    assert capsys.readouterr().err == ""


def test_unchanged_files_leave_the_total(tmp_path, capsys):
    """A re-ingest with nothing to embed shows no work and no rate built on reused files."""
    src = _big_file(tmp_path / "src")
    ingest([src], tmp_path / "ix", HashingEncoder(dim=64), progress=False)
    report = ingest([src], tmp_path / "ix", HashingEncoder(dim=64), progress=True)
    assert report.reused == ["big"] and not report.embedded
    lines = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.strip()]
    assert lines[-1].startswith("ingest: 0.00char [") and "?char/s" in lines[-1], lines


def test_onnx_encoder_reports_every_text_with_the_same_vectors(real_encoder):
    texts = [f"Sentence number {i} about the innovation zone." * (1 + i % 3) for i in range(19)]
    seen: list[int] = []
    vectors = real_encoder.encode_reporting(texts, seen.append)
    assert sum(seen) == len(texts) and len(seen) > 1
    assert (vectors == real_encoder.encode(texts)).all()
    # Batched runs of many texts agree with each text run alone up to float rounding.
    alone = np.vstack([real_encoder.encode([text]) for text in texts])
    assert np.abs(vectors - alone).max() < 1e-5
