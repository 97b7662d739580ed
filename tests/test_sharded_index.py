"""A sharded index without Ray: partitioning, the shard set and its atomic publication,
incremental ingest per shard, BM25 with the collection's statistics (bit for bit), and the
in-process coordinator answering as one index does (hashing encoder, word-overlap reader)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cluster.calls import LocalShards
from cluster.engine import ShardedEngine
from cluster.ingest import ShardCountChanged, build_in_process, ingest_sharded
from cluster.local import open_local
from cluster.partition import shard_of
from cluster.shard import ShardSearcher
from cluster.shard_set import SHARDS, ShardSet, publish_shard_set, read_shard_set
from eval.same_answers import stable_answer
from index.config import IngestConfig
from index.durable import Steps
from index.lexical import tokenize
from index.manifest import IndexCorrupt
from index.pipeline import ingest
from index.store import load_snapshot
from retriever.engine import Engine
from retriever.language.en import content_terms
from retriever.weights import ScoringModel
from tests.fake_encoder import HashingEncoder

from .conftest import REPO, SEEDS
from .fake_reader import WordOverlapReader

QUESTIONS = [
    "When was the MoU signed?",
    "How many jobs could be created?",
    "Who is the Mayor of the Liverpool City Region?",
    "What does the partnership between Liverpool and Oxford cover?",
    "Which universities are involved?",
    "What is the capital of Peru?",
    "innovation",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(documents folder, one-process index, 3-shard index) of the seeds."""
    root = tmp_path_factory.mktemp("sharded")
    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    encoder = HashingEncoder(dim=64)
    ingest([docs], root / "one", encoder, progress=False)
    report = ingest_sharded([docs], root / "three", 3, build_in_process(encoder, IngestConfig()))
    assert report.published and report.documents == 5
    return docs, root / "one", root / "three"


def test_the_shard_of_a_document_is_stable() -> None:
    assert [shard_of(f"doc-{i}", 3) for i in range(8)] == \
        [shard_of(f"doc-{i}", 3) for i in range(8)]
    # sha256, not hash(): the same in every process (PYTHONHASHSEED varies hash()).
    assert shard_of("001_cee6b474e733bd54", 3) == int.from_bytes(
        __import__("hashlib").sha256(b"001_cee6b474e733bd54").digest()[:8], "big") % 3
    with pytest.raises(ValueError):
        shard_of("x", 0)


def test_the_shard_set_lists_every_shard_with_its_checksum(built) -> None:
    _docs, _one, three = built
    shard_set = read_shard_set(three)
    assert shard_set is not None and len(shard_set.shards) == 3
    held = {d for e in shard_set.shards if e.version
            for d in load_snapshot(three / e.name, e.version, lease=False).manifest["documents"]}
    assert held == {p.stem for p in SEEDS.glob("*.txt")}
    for entry in shard_set.shards:
        for doc_id in (load_snapshot(three / entry.name, entry.version, lease=False)
                       .manifest["documents"] if entry.version else ()):
            assert shard_of(doc_id, 3) == int(entry.name.rsplit("-", 1)[1])


def test_collection_bm25_equals_one_index_bit_for_bit(built) -> None:
    _docs, one, three = built
    engine = open_local(three, HashingEncoder(dim=64))
    assert isinstance(engine.shards, LocalShards)
    searchers = engine.shards.searchers
    with load_snapshot(one, lease=False) as whole:
        for question in QUESTIONS:
            tokens = content_terms(tokenize(question))
            query = engine.stats.for_query(tokens)
            for kind, lexical in (("chunk", whole.chunk_bm25), ("sentence", whole.sentence_bm25)):
                expected = lexical.scores(tokens)
                got = np.zeros_like(expected)
                for s, searcher in enumerate(searchers):
                    scores = searcher.bm25_scores(kind, tuple(tokens), query)
                    rows = engine.rows.to_collection(kind, s, np.arange(len(scores)))
                    got[rows] = scores
                assert got.tobytes() == expected.tobytes(), (question, kind)


class _NoSpeculationFrom(LocalShards):
    """Shards as they are, but ``shard``'s speculative candidates are dropped: the coordinator
    must ask it again (the path a real miss takes)."""

    def __init__(self, searchers: list[ShardSearcher], shard: int) -> None:
        super().__init__(searchers)
        self.shard = shard
        self.asked: list[str] = []

    def call(self, method, args):  # type: ignore[no-untyped-def]
        self.asked.append(method)
        found = super().call(method, args)
        if method == "retrieve" and self.shard in found:
            found[self.shard] = dataclasses.replace(found[self.shard], considered=frozenset(),
                                                    speculated=None)
        return found


@pytest.mark.parametrize("speculation", ["all", "none", "mixed"])
def test_sharded_answers_are_the_one_index_answers(built, speculation: str) -> None:
    """Byte-identical answers whether the candidates come with the rankings (speculation), in
    a second round, or some each way."""
    _docs, one, three = built
    encoder = HashingEncoder(dim=64)
    reader = WordOverlapReader(one)
    whole = Engine.open(one, encoder, ScoringModel.load(), reader=reader)
    live = read_shard_set(three)
    assert live is not None
    searchers = [ShardSearcher.open(three, e) for e in live.shards if e.version]
    shards = _NoSpeculationFrom(searchers, 1 if speculation == "mixed" else -1)
    sharded = ShardedEngine(shards, encoder, ScoringModel.load(), reader=reader,
                            version="s000000-000000", speculate=speculation != "none")
    for question in QUESTIONS:
        shards.asked.clear()
        a = stable_answer(whole.ask(question, 5).model_dump(mode="json"))
        b = stable_answer(sharded.ask(question, 5).model_dump(mode="json"))
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True), question
        assert ("candidates" in shards.asked) == (speculation != "all"), question
    assert sharded.document("001_cee6b474e733bd54") == whole.document("001_cee6b474e733bd54")
    assert sharded.document("nope") is None
    search_whole = [h.model_dump() for h in whole.search(QUESTIONS[0], 5)]
    assert [h.model_dump() for h in sharded.search(QUESTIONS[0], 5)] == search_whole


def test_an_unchanged_ingest_publishes_nothing_and_a_change_touches_one_shard(
        built, tmp_path: Path) -> None:
    docs, _one, three = built
    index_dir = tmp_path / "ix"
    shutil.copytree(three, index_dir)
    encoder = HashingEncoder(dim=64)
    build = build_in_process(encoder, IngestConfig())
    before = read_shard_set(index_dir)
    again = ingest_sharded([docs], index_dir, 3, build)
    assert not again.published and again.changed_shards == []
    assert read_shard_set(index_dir) == before
    changed = docs / "003_6f9793588dbe1bb2.txt"
    original = changed.read_text()
    try:
        changed.write_text(original + "\nA new closing sentence about shards.\n")
        report = ingest_sharded([docs], index_dir, 3, build)
    finally:
        changed.write_text(original)
    assert report.published
    assert report.changed_shards == [shard_of(changed.stem, 3)]
    after = read_shard_set(index_dir)
    assert before is not None and after is not None
    for old, new in zip(before.shards, after.shards, strict=True):
        assert (old == new) == (new.name != f"shard-{shard_of(changed.stem, 3):02d}")
    with pytest.raises(ShardCountChanged):
        ingest_sharded([docs], index_dir, 4, build)


def test_a_failed_publish_leaves_the_live_set(built, tmp_path: Path) -> None:
    _docs, _one, three = built
    index_dir = tmp_path / "ix"
    shutil.copytree(three, index_dir)
    live = read_shard_set(index_dir)
    assert live is not None

    def fail(step: str) -> None:
        if step.startswith("replace"):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        publish_shard_set(index_dir, ShardSet(live.shards[:1] + live.shards[1:], ("/x",)),
                          Steps(fail))
    assert read_shard_set(index_dir) == live  # the commit point was never reached


def test_a_tampered_shard_is_refused(built, tmp_path: Path) -> None:
    _docs, _one, three = built
    index_dir = tmp_path / "ix"
    shutil.copytree(three, index_dir)
    live = read_shard_set(index_dir)
    assert live is not None
    entry = next(e for e in live.shards if e.version)
    manifest = index_dir / entry.name / entry.version / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"counts"', b'"counts" '))
    with pytest.raises(IndexCorrupt, match="not the one the shard set records"):
        ShardSearcher.open(index_dir, entry)
    (index_dir / SHARDS).write_text("s000001-abcdef.json " + "0" * 64 + "\n")
    with pytest.raises(IndexCorrupt):
        read_shard_set(index_dir)


def test_a_shard_that_fails_fails_the_question(built) -> None:
    """Never an answer from part of the collection passed off as whole."""
    from cluster.calls import ShardUnavailable

    _docs, one, three = built
    encoder = HashingEncoder(dim=64)

    class OneShardDown(LocalShards):
        down = False

        def call(self, method, args):  # type: ignore[no-untyped-def]
            if self.down and 1 in args:
                raise ShardUnavailable("shard-01 is not answering")
            return super().call(method, args)

    live = read_shard_set(three)
    assert live is not None
    shards = OneShardDown([ShardSearcher.open(three, e) for e in live.shards if e.version])
    engine = ShardedEngine(shards, encoder, ScoringModel.load(), reader=WordOverlapReader(one),
                           version="s")
    assert engine.ask(QUESTIONS[0]).citations
    shards.down = True
    with pytest.raises(ShardUnavailable, match="shard-01"):
        engine.ask(QUESTIONS[0])


def test_the_default_paths_never_import_ray() -> None:
    code = ("import sys, service.cli, service.app, service.serve_cli, index.pipeline, "
            "retriever.engine, cluster.engine, cluster.local, cluster.ingest\n"
            "service.cli.build_parser()\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_only_the_newest_shard_sets_are_kept(built, tmp_path: Path) -> None:
    from cluster.shard_set import KEEP_SETS, SET_NAME

    _docs, _one, three = built
    index_dir = tmp_path / "ix"
    shutil.copytree(three, index_dir)
    live = read_shard_set(index_dir)
    assert live is not None
    names = [publish_shard_set(index_dir, ShardSet(live.shards, (f"/source-{i}",)))
             for i in range(KEEP_SETS + 2)]
    kept = sorted(p.name for p in index_dir.iterdir() if SET_NAME.match(p.name))
    assert kept == sorted(names[-KEEP_SETS:])
    assert read_shard_set(index_dir).sources == (f"/source-{KEEP_SETS + 1}",)  # type: ignore[union-attr]


class _CountingEncoder(HashingEncoder):
    """Records the texts of every ``encode`` call that reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.asked.append(list(texts))
        return super().encode(texts)


def test_a_cluster_shard_build_finds_every_vector_the_embedding_actors_made(
    tmp_path: Path,
) -> None:
    """The actors embed each file's texts as the shard build will ask for them (its sentences
    and chunks, in one call), so writing a shard embeds nothing but the manifest's probes."""
    from cluster.ingest import ShardJob, build_shard
    from cluster.ray_ingest import PrecomputedEncoder, _segment, files_to_embed
    from index.manifest import PROBE_SENTENCES

    config = IngestConfig()
    files = tuple(sorted(p.resolve() for p in SEEDS.iterdir()))
    job = ShardJob(0, tmp_path / "shard-00", files)
    actor = HashingEncoder()
    vectors = {}
    for row in files_to_embed([job], config):
        done = _segment(row, config)
        vectors[done["key"]] = actor.encode(done["texts"])
    assert len(vectors) == len(files)
    fallback = _CountingEncoder()
    built = build_shard(job, PrecomputedEncoder(fallback, vectors), config)
    assert built.documents == len(files)
    assert fallback.asked == [list(PROBE_SENTENCES)]
    # And the vectors are the ones one process computes.
    ingest(list(files), tmp_path / "one", HashingEncoder(), config, progress=False)
    with load_snapshot(tmp_path / "one", lease=False) as alone, \
            load_snapshot(job.index_dir, lease=False) as shard:
        for name in ("sentence_vectors", "chunk_vectors"):
            assert np.array_equal(getattr(alone.content, name), getattr(shard.content, name))


def test_a_shard_cites_every_candidate_as_one_index_does(built) -> None:
    """What a shard sends with each candidate (``Quote`` and ``Citing``) makes, on the
    coordinator, the citation and the answer that ``retriever.compose`` makes from the
    document itself, for every answerable sentence, lead-ins and list items included."""
    from cluster.shard_set import read_shard_set
    from retriever.compose import (
        answer_span,
        citation_for,
        highlight_in,
        sentence_span,
    )

    _docs, _one, three = built
    shard_set = read_shard_set(three)
    assert shard_set is not None
    roles: set[str] = set()
    for entry in shard_set.shards:
        if entry.version is None:
            continue
        searcher = ShardSearcher.open(three, entry)
        try:
            corpus = searcher.corpus
            rows = np.flatnonzero(corpus.answerable).tolist()
            quotes, citing = searcher._quotes(rows)
            for row, quote in zip(rows, quotes, strict=True):
                roles.add(corpus.snapshot.content.sentences[row].role)
                own = sentence_span(corpus, row, row)
                assert citing.cite(quote.sentence, 0.25) == citation_for(corpus, own, 0.25)
                span = answer_span(corpus, row)
                reader_span = (0, min(5, len(own.text)))
                part = citing.answer(quote, reader_span, 0.8125)
                assert part.citation == citation_for(corpus, span, 0.8125)
                assert part.highlight == highlight_in(corpus, span, row, reader_span)
                assert (part.text, part.doc_id) == (span.text, span.doc_id)
        finally:
            searcher.close()
    assert {"text", "lead_in", "list_item"} <= roles
