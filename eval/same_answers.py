"""Show that a change leaves answers untouched: snapshot every answer, then compare snapshots.

    python -m eval.same_answers snapshot var/same/before.jsonl   # at the old commit
    python -m eval.same_answers snapshot var/same/after.jsonl    # at the new one
    python -m eval.same_answers compare var/same/before.jsonl var/same/after.jsonl

``snapshot`` builds fresh indexes with the code it runs (the seeds and the SQuAD v1.1 sample
corpus, each in its own folder under ``--work``), asks every gold question and every SQuAD v1.1
sample question (all splits) in hybrid mode, and writes one line per question: the Answer JSON
without what legitimately differs between runs (timings and the index version id).

``compare`` exits 0 when the two files are byte-identical line for line, 1 otherwise, naming the
questions that differ.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import datasets

VOLATILE = ("timings_ms", "index_version")


def stable_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The Answer JSON minus timings and the version id (also where the id appears in links)."""
    version = str(answer.get("index_version") or "")
    kept = {k: v for k, v in answer.items() if k not in VOLATILE}
    return _replace_text(kept, version, "<version>") if version else kept


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    return value


def _question_sets(shared_corpus: Path) -> Iterator[tuple[str, Path, list[datasets.Question]]]:
    yield "gold", Path("seeds"), datasets.load_gold()
    yield "squad", shared_corpus, datasets.load_squad()


def snapshot(out: Path, work: Path) -> int:
    from index.pipeline import ingest
    from service.settings import Settings
    from service.wiring import limit_threads, make_encoder, open_engine

    settings = Settings()
    limit_threads(settings)
    encoder = make_encoder(settings)
    lines: list[str] = []
    for name, corpus, questions in _question_sets(datasets.squad_corpus()):
        index_dir = work / f"{name}-index"
        shutil.rmtree(index_dir, ignore_errors=True)  # built by the code under test, not reused
        ingest([corpus], index_dir, encoder, settings.ingest_config(), progress=False)
        engine = open_engine(settings.model_copy(update={"index_dir": index_dir}))
        for q in questions:
            answer = engine.ask(q.question, top_k=settings.top_k, mode="hybrid")
            row = {"set": name, "id": q.id, "answer": stable_answer(answer.model_dump(mode="json"))}
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
        print(f"{name}: {len(questions)} questions", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} answers to {out}", file=sys.stderr)
    return 0


def compare(before: Path, after: Path) -> int:
    old = before.read_text(encoding="utf-8").splitlines()
    new = after.read_text(encoding="utf-8").splitlines()
    if len(old) != len(new):
        print(f"different question counts: {len(old)} vs {len(new)}")
        return 1
    differing = [json.loads(a)["id"] for a, b in zip(old, new, strict=True) if a != b]
    print(f"{len(old) - len(differing)}/{len(old)} answers byte-identical")
    for qid in differing[:20]:
        print(f"  differs: {qid}")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    snap = verbs.add_parser("snapshot", help="answer every question, write a snapshot")
    snap.add_argument("out", type=Path)
    snap.add_argument("--work", type=Path, default=Path("var/same-answers"),
                      help="where the fresh indexes are built")
    cmp_ = verbs.add_parser("compare", help="compare two snapshots (exit 1 when they differ)")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "snapshot":
        return snapshot(args.out, args.work)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
