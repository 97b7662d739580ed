"""D9: rebuild from source. Delete every index directory, rebuild from the same files, and get the
same bytes (every file hash in the manifest, the manifest itself, the version name) and the same
answers and citations to the whole gold set (recall@5 Δ = 0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from index.pipeline import IngestConfig, ingest
from index.store import current_version
from retriever.engine import Engine
from retriever.weights import ScoringModel

from ..fake_reader import WordOverlapReader
from .common import REPO, encoder, report

SEEDS = REPO / "seeds"
GOLD = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text().splitlines()
        if line.strip()]


def _run(ix: Path) -> tuple[bytes, str, list[str], float]:
    name = current_version(ix)
    assert name is not None
    manifest = (ix / name / "manifest.json").read_bytes()
    engine = Engine.open(ix, encoder(), ScoringModel.load(), reader=WordOverlapReader(ix))
    answers, hits, answerable = [], 0, 0
    for item in GOLD:
        answer = engine.ask(item["question"])
        answers.append(answer.model_dump_json(exclude={"timings_ms"}))
        if item["docs"]:
            answerable += 1
            cited = {c.doc_id for c in answer.citations[:5]}
            hits += bool(cited & set(item["docs"]))
    engine.corpus.snapshot.close()
    return manifest, name, answers, hits / max(answerable, 1)


def test_d9_rebuild_from_source_is_identical(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    ix = tmp_path / "ix"
    config = IngestConfig()
    ingest([corpus], ix, encoder(), config, progress=False)
    manifest1, name1, answers1, recall1 = _run(ix)
    shutil.rmtree(ix)
    ingest([corpus], ix, encoder(), config, progress=False)
    manifest2, name2, answers2, recall2 = _run(ix)
    files1 = json.loads(manifest1)["files"]
    files2 = json.loads(manifest2)["files"]
    same_files = sum(files1[k] == files2.get(k) for k in files1)
    same_answers = sum(a == b for a, b in zip(answers1, answers2, strict=True))
    report(
        f"D9: rebuild from source after deleting every index dir → {same_files}/{len(files1)} "
        f"file hashes identical, manifest {'identical' if manifest1 == manifest2 else 'DIFFERENT'}"
        f", version name {'identical' if name1 == name2 else 'different'}; {same_answers}/"
        f"{len(GOLD)} gold answers byte-identical; recall@5 Δ = {recall2 - recall1:+.2f}"
    )
    assert files1 == files2 and manifest1 == manifest2 and name1 == name2
    assert answers1 == answers2 and recall1 == recall2
