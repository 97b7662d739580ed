"""One index and a 3-shard index of the same documents give byte-identical answers (all but
timings and the version id), with the real model and the shipped answer model: every gold
question on the seeds, and the questions of a slice of the SQuAD v1.1 sample.

``python -m eval.same_answers`` style comparison, in process (the coordinator calls its shards
directly: what a cluster serves, without Ray; tests/test_cluster_ray.py runs it on Ray)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cluster.ingest import build_in_process, ingest_sharded
from cluster.local import open_local
from eval import datasets
from eval.same_answers import stable_answer
from index.config import IngestConfig
from index.pipeline import ingest
from retriever.engine import Engine

from .conftest import SEEDS

pytestmark = pytest.mark.slow
SQUAD_ARTICLES = 6  # the first articles of the sample, by file name
SQUAD_QUESTIONS = 80


def _same(whole: Engine, sharded, questions: list[datasets.Question]) -> list[str]:
    differing = []
    for q in questions:
        a = json.dumps(stable_answer(whole.ask(q.question, 5).model_dump(mode="json")),
                       sort_keys=True)
        b = json.dumps(stable_answer(sharded.ask(q.question, 5).model_dump(mode="json")),
                       sort_keys=True)
        if a != b:
            differing.append(q.id)
    return differing


def test_seed_gold_answers_are_identical(tmp_path: Path, seed_engine, real_encoder,
                                         answer_model) -> None:
    ingest_sharded([SEEDS], tmp_path / "three", 3, build_in_process(real_encoder, IngestConfig()))
    sharded = open_local(tmp_path / "three", real_encoder, reader=answer_model)
    questions = datasets.load_gold()
    assert len(questions) > 100
    assert _same(seed_engine, sharded, questions) == []


@pytest.mark.skipif(not datasets.squad_corpus().is_dir(),
                    reason="../shared/bench is not beside the repo")
def test_squad_slice_answers_are_identical(tmp_path: Path, real_encoder, answer_model) -> None:
    corpus = tmp_path / "squad"
    corpus.mkdir()
    articles = sorted(datasets.squad_corpus().glob("*.txt"))[:SQUAD_ARTICLES]
    for path in articles:
        shutil.copy(path, corpus / path.name)
    held = {p.stem for p in articles}
    questions = [q for q in datasets.load_squad() if set(q.docs) <= held][:SQUAD_QUESTIONS]
    assert len(questions) >= 20
    ingest([corpus], tmp_path / "one", real_encoder, progress=False)
    ingest_sharded([corpus], tmp_path / "three", 3,
                   build_in_process(real_encoder, IngestConfig()))
    whole = Engine.open(tmp_path / "one", real_encoder, reader=answer_model)
    for speculate in (False, True):  # candidates in a second round, or with the rankings
        sharded = open_local(tmp_path / "three", real_encoder, reader=answer_model,
                             speculate=speculate)
        assert _same(whole, sharded, questions) == [], speculate
