"""The index records its sources: ingest adds to them, re-reads them, and drops them only when
told (--replace, --remove). A recorded source that has gone missing keeps its documents."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from index.layout import CURRENT
from index.manifest import encode_manifest
from index.pipeline import ingest
from index.source_set import SourceError
from index.store import load_snapshot
from tests import fake_citeqa

from .conftest import SEEDS

SEED_IDS = sorted(p.stem for p in SEEDS.iterdir())


def main(argv: list[str]) -> int:
    """``citeqa`` with the fake encoder at its model seam: no real model needed."""
    return fake_citeqa.main(argv, dim=32)


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "hub.md").write_text("# Hub\n\nThe new hub employs 120 people in Wirral.\n")
    return seeds, mine


def _doc_ids(index_dir: Path) -> list[str]:
    with load_snapshot(index_dir) as snapshot:
        return sorted(d.doc_id for d in snapshot.content.documents)


def _sources(index_dir: Path) -> list[str]:
    with load_snapshot(index_dir) as snapshot:
        return snapshot.manifest["sources"]


def test_adding_a_folder_keeps_the_recorded_ones(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    ingest([seeds], ix, hashing_encoder, mode="add", progress=False)
    report = ingest([mine], ix, hashing_encoder, mode="add", progress=False)
    assert report.published and not report.removed
    assert report.embedded == ["hub"] and sorted(report.reused) == SEED_IDS
    assert _doc_ids(ix) == sorted([*SEED_IDS, "hub"])
    assert _sources(ix) == sorted([str(seeds), str(mine)])
    by_path = {s.path: s for s in report.sources}
    assert by_path[str(mine)].status == "new" and by_path[str(mine)].added == 1
    assert by_path[str(seeds)].status == "recorded" and by_path[str(seeds)].reused == 5


def test_no_path_rereads_the_recorded_sources_and_notices_changes(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    other = tmp_path / "never-read"
    other.mkdir()
    (other / "x.txt").write_text("This folder is only a default for new indexes.\n")
    ingest([], ix, hashing_encoder, mode="add", default_paths=[seeds], progress=False)
    ingest([mine], ix, hashing_encoder, mode="add", progress=False)
    changed = seeds / f"{SEED_IDS[0]}.txt"
    changed.write_text(changed.read_text() + "\nThe launchpad opened in March 2027.\n")
    (seeds / f"{SEED_IDS[1]}.txt").unlink()
    (mine / "hub.md").write_text("# Hub\n\nThe hub now employs 150 people in Wirral.\n")
    report = ingest([], ix, hashing_encoder, mode="add", default_paths=[other], progress=False)
    assert sorted(report.embedded) == sorted([SEED_IDS[0], "hub"])
    assert report.removed == [SEED_IDS[1]] and len(report.reused) == 3
    assert "x" not in _doc_ids(ix)  # the default is only for an index that records nothing


def test_replace_makes_the_paths_the_only_sources(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    ingest([seeds], ix, hashing_encoder, mode="add", progress=False)
    report = ingest([mine], ix, hashing_encoder, mode="replace", progress=False)
    assert report.removed == SEED_IDS and _doc_ids(ix) == ["hub"]
    assert _sources(ix) == [str(mine)]
    assert {s.path: s.status for s in report.sources}[str(seeds)] == "dropped"


def test_remove_drops_a_source_and_its_documents(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    ingest([seeds, mine], ix, hashing_encoder, mode="add", progress=False)
    with pytest.raises(SourceError, match="not a source of the index"):
        ingest([], ix, hashing_encoder, mode="add", remove=[tmp_path / "elsewhere"],
               progress=False)
    report = ingest([], ix, hashing_encoder, mode="add", remove=[seeds], progress=False)
    assert report.removed == SEED_IDS and _doc_ids(ix) == ["hub"]
    assert _sources(ix) == [str(mine)]
    with pytest.raises(SourceError, match="no sources"):
        ingest([], ix, hashing_encoder, mode="add", remove=[mine], progress=False)


def test_a_missing_source_keeps_its_documents_until_removed(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    ingest([seeds, mine], ix, hashing_encoder, mode="add", progress=False)
    shutil.rmtree(mine)  # an unmounted share, a renamed folder
    report = ingest([], ix, hashing_encoder, mode="add", progress=False)
    assert report.kept == ["hub"] and not report.removed and not report.published
    assert {s.path: (s.status, s.kept) for s in report.sources}[str(mine)] == ("missing", 1)
    assert _sources(ix) == sorted([str(seeds), str(mine)])
    report = ingest([], ix, hashing_encoder, mode="add", remove=[mine], progress=False)
    assert report.removed == ["hub"] and _sources(ix) == [str(seeds)]


def _strip_sources(index_dir: Path) -> None:
    """Rewrite the current version's manifest as an older citeqa wrote it: no sources."""
    name = (index_dir / CURRENT).read_text().split()[0]
    path = index_dir / name / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["sources"]
    data = encode_manifest(manifest)
    path.write_bytes(data)
    (index_dir / CURRENT).write_text(f"{name} {hashlib.sha256(data).hexdigest()}\n")


def test_an_index_without_recorded_sources_loads_and_loses_nothing(tmp_path, hashing_encoder):
    seeds, mine = _corpus(tmp_path)
    ix = tmp_path / "ix"
    ingest([seeds], ix, hashing_encoder, progress=False)
    _strip_sources(ix)
    assert _doc_ids(ix) == SEED_IDS  # an older manifest loads as before
    report = ingest([mine], ix, hashing_encoder, mode="add", progress=False)
    assert sorted(report.reused) == SEED_IDS and not report.removed
    assert "recorded no sources" in report.note
    assert _doc_ids(ix) == sorted([*SEED_IDS, "hub"])


def test_cli_adds_reports_per_source_and_names_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "index"))
    seeds, mine = _corpus(tmp_path)
    assert main(["ingest", "--quiet"]) == 0  # a new index: seeds/ of the working folder
    capsys.readouterr()
    assert main(["ingest", "mydocs", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 documents" in out and "removed 0" in out
    assert f"  {mine} (new source): 1 added" in out and f"  {seeds}: 5 reused" in out
    shutil.rmtree(mine)
    assert main(["ingest", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        f"citeqa: source {mine} no longer exists: its documents are kept "
        f"(citeqa ingest --remove {mine} drops them)")
    assert "6 documents" in captured.out
    assert main(["ingest", "--remove", "nowhere", "--quiet"]) == 2
    assert "nowhere is not a source of the index" in capsys.readouterr().err
    assert main(["ingest", "--remove", "mydocs", "--quiet"]) == 0
    assert f"  {mine} (source removed): 1 removed" in capsys.readouterr().out
