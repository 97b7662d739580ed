"""Small documents are embedded several at a time, and each still gets exactly the vectors it
gets alone; a large document is embedded on its own with progress inside it; documents are
written in id order however they were grouped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embed import load_encoder
from index.embed_onnx import FP32_BACKEND
from index.lexical import join_line_hyphens
from index.pipeline import ingest
from index.store import load_snapshot
from tests.fake_encoder import HashingEncoder


class GroupingEncoder(HashingEncoder):
    """The fake, with ``encode_groups``: records how ingest called it."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.groups: list[int] = []  # documents per encode_groups call
        self.alone: list[int] = []  # texts per encode_reporting call

    def encode_groups(self, groups: list[list[str]]) -> list[np.ndarray]:
        self.groups.append(len(groups))
        return [HashingEncoder.encode_reporting(self, g, lambda _: None) for g in groups]

    def encode_reporting(self, texts, on_done):
        self.alone.append(len(texts))
        return super().encode_reporting(texts, on_done)


def _corpus(root: Path, small: int) -> Path:
    root.mkdir()
    for i in range(small):
        (root / f"note{i:03d}.txt").write_text(
            f"Note {i} concerns the harbour. The ferry number {i} leaves at dawn. "
            f"It returns at dusk with {i + 2} passengers.\n")
    long = " ".join(f"Sentence {j} of the long report names the year {1900 + j}."
                    for j in range(120))
    (root / "note050-report.txt").write_text(long + "\n")
    return root


def _state(index_dir: Path) -> tuple[list[str], bytes, bytes]:
    with load_snapshot(index_dir) as snap:
        content = snap.content
        return ([s.id for s in content.sentences], np.asarray(content.sentence_vectors).tobytes(),
                np.asarray(content.chunk_vectors).tobytes())


def test_small_documents_share_calls_and_the_version_is_the_same_as_one_by_one(tmp_path):
    corpus = _corpus(tmp_path / "docs", small=60)
    grouping = GroupingEncoder()
    assert ingest([corpus], tmp_path / "grouped", grouping, progress=False).published
    assert ingest([corpus], tmp_path / "plain", HashingEncoder(dim=32), progress=False).published
    assert _state(tmp_path / "grouped") == _state(tmp_path / "plain")
    assert max(grouping.groups) > 1 and sum(grouping.groups) == 60
    assert grouping.alone and max(grouping.alone) >= 120  # the long report, alone

    # Re-ingest with two notes changed: reused documents interleave with grouped new ones, and
    # the order of records stays the id order.
    for name in ("note010.txt", "note040.txt"):
        path = corpus / name
        path.write_text(path.read_text() + "A late notice was added.\n")
    again = GroupingEncoder()
    report = ingest([corpus], tmp_path / "grouped", again, progress=False)
    assert report.published and sum(again.groups) == 2  # the two changed notes only
    ids = _state(tmp_path / "grouped")[0]
    assert [i.split(":")[0] for i in ids] == sorted([i.split(":")[0] for i in ids])


@pytest.mark.slow
def test_grouped_documents_get_the_vectors_the_model_gives_each_alone(tmp_path):
    corpus = _corpus(tmp_path / "docs", small=12)
    encoder = load_encoder("bundled:all-MiniLM-L6-v2", backend=FP32_BACKEND, threads=2)
    assert ingest([corpus], tmp_path / "ix", encoder, progress=False).published
    with load_snapshot(tmp_path / "ix") as snap:
        content = snap.content
        for doc in content.documents:
            rows = [i for i, s in enumerate(content.sentences) if s.doc_id == doc.doc_id]
            crows = [i for i, c in enumerate(content.chunks) if c.doc_id == doc.doc_id]
            texts = ([content.sentences[i].text for i in rows]
                     + [content.chunks[i].text for i in crows])
            alone = encoder.encode([join_line_hyphens(t) for t in texts])
            stored = np.concatenate([np.asarray(content.sentence_vectors[rows]),
                                     np.asarray(content.chunk_vectors[crows])])
            assert np.array_equal(stored, alone), doc.doc_id
