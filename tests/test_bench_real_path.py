"""The real-path benchmarks run end to end on the seeds: checkouts side by side
(eval.bench.ingest_compare) and ingest -> serve -> ask over HTTP (eval.bench.real_scale).
Real model, real server on 127.0.0.1; no timing is asserted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from eval.bench import ingest_compare, real_scale

from .conftest import SEEDS

REPO = Path(__file__).resolve().parents[1]


def test_corpus_chars_counts_what_ingest_reads(tmp_path):
    (tmp_path / "a.txt").write_text("héllo\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# x", encoding="utf-8")
    assert ingest_compare.corpus_chars(tmp_path) == 9


def test_checkouts_side_by_side_report_every_run():
    result = ingest_compare.compare({"a": REPO, "b": REPO}, SEEDS, rounds=1)
    assert set(result["summary"]) == {"a", "b"}
    assert result["summary"]["a"]["speedup_vs_a"] == 1.0
    for runs in result["runs"].values():
        (run,) = runs
        assert run["sentences"] > 0 and run["peak_rss_mib"] > 0 and len(run["load_average"]) == 2


def test_settings_side_by_side_run_this_checkout_with_their_environment():
    result = ingest_compare.compare(
        {"one": ingest_compare.Variant(REPO, {"CITEQA_INGEST_LOADERS": "0"}),
         "loader": ingest_compare.Variant(REPO, {"CITEQA_INGEST_LOADERS": "1"})},
        SEEDS, rounds=1)
    assert result["variants"]["loader"]["env"] == {"CITEQA_INGEST_LOADERS": "1"}
    one, loader = result["runs"]["one"][0], result["runs"]["loader"][0]
    assert one["sentences"] == loader["sentences"] > 0
    assert loader["sentences_per_s"] > 0


@pytest.mark.parametrize("value", ["x", "x=", "x=KEY", "=K=V", "x=K=V,bad"])
def test_a_malformed_setting_is_refused(value):
    with pytest.raises(argparse.ArgumentTypeError):
        ingest_compare._setting(value)


def test_a_setting_names_its_environment():
    name, variant = ingest_compare._setting("two=A=1,B=x=y")
    assert name == "two" and variant.env == {"A": "1", "B": "x=y"}


def test_real_path_ingests_serves_and_measures(tmp_path):
    out = tmp_path / "result.json"
    code = real_scale.main([str(SEEDS), "--index", str(tmp_path / "ix"), "--questions", "6",
                            "--warmup", "2", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["ingest"]["sentences"] > 0 and result["ingest"]["peak_rss_mib"] > 0
    assert result["collection"]["chars"] > 0 and result["collection"]["disk_mib"] > 0
    assert {row["recall_at_10_served"] for row in result["collection"]["dense_recall"]} == {1.0}
    served = result["serve"]
    assert served["ready_s"] > 0 and served["http_ms"]["n"] == 6 and served["rss_ready_mib"] > 0


def test_questions_are_drawn_reproducibly():
    assert real_scale.questions(5) == real_scale.questions(5)
    assert len(real_scale.questions(5)) == 5
