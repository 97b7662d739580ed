"""More hostile ingest (issue 14): a symlink to a file outside the folder, named pipes, a sidecar
nested a thousand deep, a file that takes too long, one long line without a sentence break, and a
list of very long items whose lead-in would quote them all.

Each attack sits beside good files: it is reported by name with a reason and skipped (or, for the
long line, ingested with bounded sentences, chunks and answers) and the good files publish.
Ingests that could block (pipes) or grow large run in a child process with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from index.pipeline import IngestConfig, ingest
from index.segment import MAX_TOKEN_CHARS
from index.store import load_snapshot
from retriever.compose import MAX_PASSAGE_CHARS, MAX_QUOTE_CHARS, answer_span, citation_for
from retriever.corpus import Corpus
from tests.answer_fixture import answer_model_for
from tests.fake_encoder import HashingEncoder

from .common import FULL, REPO, report
from .hostile_files import SECRET, write_good, write_link_attacks, write_long_line

CHILD_TIMEOUT_S = 120  # a pipe that blocks the ingest shows up as this timeout
LONG_LINE_BYTES = 20_000_000 if FULL else 4_000_000
# What one answer may weigh at the default top_k, whatever the documents hold.
MAX_ANSWER_JSON_BYTES = 100_000


def _child(*args: str, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.hostile_files", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _served_texts(index_dir: Path) -> list[str]:
    with load_snapshot(index_dir) as snap:
        return [d.text for d in snap.content.documents]


def test_links_pipes_and_deep_sidecars_are_reported_and_skipped(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    attacks = write_link_attacks(corpus, tmp_path / "outside")
    good = write_good(corpus)
    started = time.perf_counter()
    result = _child(str(corpus), str(index_dir), "5000000", timeout=CHILD_TIMEOUT_S)
    wall = time.perf_counter() - started
    skipped: dict[str, str] = result["skipped"]
    served_secret = any(SECRET in text for text in _served_texts(index_dir))
    right = [name for name, why in attacks.items() if why in skipped.get(name, "")]
    report(f"Hostile ingest (links, pipes, deep sidecar): {len(right)}/{len(attacks)} reported "
           f"and skipped with the right reason in {result['seconds']:.1f} s (child wall "
           f"{wall:.1f} s); the outside file served: {'yes' if served_secret else 'no'}; "
           f"{len(result['indexed'])}/{len(good)} good files indexed")
    for name in sorted(attacks):
        print(f"  {name}: {skipped.get(name)}")
    assert sorted(right) == sorted(attacks), skipped
    assert "--follow-external-symlinks" in skipped["passwd.txt"]
    assert not served_secret
    assert sorted(result["indexed"]) == sorted(good) and result["published"]


def test_following_links_out_of_the_folder_is_an_explicit_choice(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    write_good(corpus)
    outside.mkdir()
    (outside / "shared.txt").write_text("Shared notes kept elsewhere.\n", encoding="utf-8")
    (corpus / "shared.txt").symlink_to(outside / "shared.txt")
    config = IngestConfig(follow_external_symlinks=True)
    result = ingest([corpus], tmp_path / "index", HashingEncoder(dim=32), config, progress=False)
    assert "shared" in result.embedded and not result.skipped
    assert any("Shared notes" in text for text in _served_texts(tmp_path / "index"))


def test_a_file_over_the_time_limit_is_skipped_and_the_rest_publish(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    good = write_good(corpus)
    lines = 300_000 if FULL else 100_000
    slow = corpus / "many_lines.md"
    slow.write_text("".join(f"Line number {i} of a long list.\n" for i in range(lines)))
    limit = 0.5
    config = IngestConfig(max_file_seconds=limit)
    started = time.perf_counter()
    result = ingest([corpus], tmp_path / "index", HashingEncoder(dim=32), config, progress=False)
    elapsed = time.perf_counter() - started
    reasons = {Path(e.path).name: e.reason for e in result.skipped}
    report(f"Hostile ingest (time limit): a {slow.stat().st_size / 1e6:.1f} MB file of "
           f"{lines:,} lines skipped at the {limit} s per-file limit; the whole ingest took "
           f"{elapsed:.1f} s; {len(result.embedded)}/{len(good)} good files indexed")
    assert list(reasons) == ["many_lines.md"], reasons
    assert f"took over {limit:g} s" in reasons["many_lines.md"]
    assert sorted(result.embedded) == sorted(good) and result.published


def test_a_long_line_without_a_sentence_break_stays_bounded(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    good = write_good(corpus)
    question = write_long_line(corpus / "blob.txt", LONG_LINE_BYTES)
    model_dir = answer_model_for(HashingEncoder(dim=32), tmp_path / "answer-model")
    result = _child("long-line", str(corpus), str(index_dir), str(model_dir), question,
                    timeout=600)
    report(f"Hostile ingest (long line): one {LONG_LINE_BYTES / 1e6:.0f} MB line without "
           f"whitespace or a sentence break ingested in {result['seconds']:.1f} s, peak RSS "
           f"{result['peak_rss_mb']:.0f} MB: {result['sentences']:,} sentences (longest "
           f"{result['longest_sentence']:,} chars), {result['chunks']:,} chunks (longest "
           f"{result['longest_chunk']:,}); an ask that hits it: {result['ask_s']:.2f} s, "
           f"{result['answer_json_bytes']:,} bytes of JSON (longest quote "
           f"{result['longest_quote']:,}, passage {result['longest_passage']:,} chars)")
    assert result["published"] and result["sentences"] > len(good)
    assert result["longest_sentence"] <= MAX_TOKEN_CHARS
    assert result["longest_chunk"] <= result["chunk_bound"]
    assert result["longest_quote"] <= MAX_QUOTE_CHARS
    assert result["longest_passage"] <= MAX_PASSAGE_CHARS
    assert result["answer_json_bytes"] <= MAX_ANSWER_JSON_BYTES


def test_a_lead_in_with_long_items_is_quoted_within_the_bounds(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_good(corpus)
    items = [f"- https://mirror{i}.example.org/" + "a" * 1_900 for i in range(12)]
    text = "Download the files from these mirrors:\n" + "\n".join(items) + "\n\nThe end.\n"
    (corpus / "mirrors.md").write_text(text, encoding="utf-8")
    ingest([corpus], tmp_path / "index", HashingEncoder(dim=32), progress=False)
    corpus_view = Corpus.from_snapshot(load_snapshot(tmp_path / "index"))
    sentences = corpus_view.snapshot.content.sentences
    row = next(i for i, s in enumerate(sentences) if s.role == "lead_in")
    span = answer_span(corpus_view, row)
    cited = citation_for(corpus_view, span, 1.0)
    report(f"Hostile ingest (long list): a lead-in over {len(items)} items of "
           f"{len(items[0]):,} chars ({len(text):,} chars in all) is quoted in "
           f"{len(span.text):,} chars with a {len(cited.passage):,}-char passage")
    assert span.text == text[span.start : span.end] and span.last_row > row  # items still join
    assert len(span.text) <= MAX_QUOTE_CHARS
    assert text[cited.passage_start : cited.passage_end] == cited.passage
    assert cited.passage_start <= cited.start and cited.end <= cited.passage_end
    assert len(cited.passage) <= MAX_PASSAGE_CHARS
