"""The real-documentation question set (eval/docs): its manifest, its questions, and the
corpus builder that copies the listed /usr/share/doc files, verified, into one collection."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from eval import datasets, docs_corpus
from eval.normalize import normalize_answer

ROOT = Path(__file__).resolve().parents[1]


def _manifest(tmp_path: Path, files: dict[str, bytes], split: str = "dev") -> Path:
    rows = []
    for name, data in files.items():
        source = tmp_path / "src" / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        rows.append({"name": f"copy-{name}", "source": str(source),
                     "sha256": hashlib.sha256(data).hexdigest(), "split": split})
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({"documents": rows}), encoding="utf-8")
    return path


def test_materialize_copies_listed_files_and_drops_others(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, {"a.md": b"# A\n\nText.\n", "b.txt": b"B text.\n"})
    target = tmp_path / "corpus"
    target.mkdir()
    (target / "stale.txt").write_text("left over", encoding="utf-8")
    docs_corpus.materialize(target, manifest)
    assert sorted(p.name for p in target.iterdir()) == ["copy-a.md", "copy-b.txt"]
    assert (target / "copy-a.md").read_bytes() == b"# A\n\nText.\n"


def test_materialize_refuses_a_changed_or_missing_source(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, {"a.md": b"# A\n"})
    (tmp_path / "src" / "a.md").write_bytes(b"# A, another version\n")
    with pytest.raises(docs_corpus.DocsCorpusUnavailable, match="differs"):
        docs_corpus.materialize(tmp_path / "corpus", manifest)
    (tmp_path / "src" / "a.md").unlink()
    with pytest.raises(docs_corpus.DocsCorpusUnavailable, match="missing"):
        docs_corpus.materialize(tmp_path / "corpus", manifest)
    assert not (tmp_path / "corpus").exists()


def test_questions_cite_listed_documents_and_follow_their_split() -> None:
    entries = {Path(e.name).stem: e for e in docs_corpus.read_manifest()}
    questions = datasets.load_docs()
    assert len({q.id for q in questions}) == len(questions)
    assert {q.split for q in questions} == {"dev", "test"}
    for q in questions:
        assert q.kind == ("factoid" if q.answers else "unanswerable"), q.id
        # answer@1 is containment after normalisation: "-l" would become "l", inside any word.
        assert all(len(normalize_answer(a)) >= 3 for a in q.answers), q.id
        assert bool(q.docs) == bool(q.answers), q.id
        for doc in q.docs:
            assert doc in entries, f"{q.id} cites {doc}, not in eval/docs/corpus.json"
            assert entries[doc].split == q.split, f"{q.id}: split differs from {doc}'s"
    # Documents are split whole: no document has questions in both splits.
    splits = {d: {q.split for q in questions if d in q.docs} for d in entries}
    assert all(len(s) <= 1 for s in splits.values())
