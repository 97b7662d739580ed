"""Offline readings of dev shortlists: read in the batches serving reads, and cached per batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval.train_answer import tune
from retriever import Candidate, Scored
from tests.training_examples import question


class _BatchRecorder:
    """A reader whose logit says how many candidates were read beside each one."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, question: str, candidates: Sequence[Candidate]) -> list[Scored]:
        self.batches.append(len(candidates))
        return [Scored(float(len(candidates)), None) for _ in candidates]


def test_a_shortlist_is_read_in_batches_of_the_size_serving_reads() -> None:
    reader = _BatchRecorder()
    [reading] = tune.read_all(reader.score, [question("q", [0] * 10)], n=8, batch=6)
    assert reader.batches == [6, 2]
    # the first six are read together, as serving reads its six
    assert [s.logit for s in reading.scored] == [6.0] * 6 + [2.0] * 2


def test_without_a_batch_size_the_whole_shortlist_is_one_read() -> None:
    reader = _BatchRecorder()
    [reading] = tune.read_all(reader.score, [question("q", [0] * 10)], n=8)
    assert reader.batches == [8] and len(reading.scored) == 8


def test_cached_readings_are_used_only_for_the_same_batch_size(tmp_path: Path) -> None:
    items = {"gold": [question("q", [1, 0, 0])]}
    reader = _BatchRecorder()
    readings = {"gold": tune.read_all(reader.score, items["gold"], n=3, batch=2)}
    cache = tmp_path / "readings.json"
    tune.save_readings(cache, "abc", readings, batch=2)
    loaded = tune.load_readings(cache, "abc", items, batch=2)
    assert loaded is not None
    assert [s.logit for s in loaded["gold"][0].scored] == [2.0, 2.0, 1.0]
    assert tune.load_readings(cache, "abc", items, batch=3) is None
    assert tune.load_readings(cache, "abc", items) is None
    assert tune.load_readings(cache, "other", items, batch=2) is None
