"""Build the answer model's examples: every training and tuning question asked of its own index.

    python -m eval.train_answer.build_data --out var/answer-data

Indexes (built incrementally with the configured encoder, reused when unchanged):
``var/bench/squad-index`` (SQuAD v1.1 corpus: its training questions and the evaluation sample),
``var/bench/squad2-index`` (SQuAD 2.0 corpus), and the configured seed index (gold set).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from eval import datasets
from eval.train_answer.data import build_examples, write_examples

INDEXES = {"squad": Path("var/bench/squad-index"), "squad2": Path("var/bench/squad2-index")}


def ensure_indexes(settings: Any) -> None:
    """Build (or incrementally update) the SQuAD indexes the examples are drawn from."""
    from index.pipeline import ingest
    from service.wiring import make_encoder

    encoder = make_encoder(settings)
    corpora = {"squad": datasets.squad_corpus(), "squad2": datasets.squad2_corpus()}
    for name, corpus in corpora.items():
        ingest([corpus], INDEXES[name], encoder, settings.ingest_config(), progress=False)


def retrieval_engine(settings: Any, index_dir: Path) -> Any:
    """An engine that retrieves and pre-ranks (no answer model: it is what is being fitted)."""
    from retriever import Engine, ScoringModel
    from service.wiring import make_encoder

    encoder = make_encoder(settings, for_questions=True)
    return Engine.open(index_dir, encoder, ScoringModel.load(), settings.engine_params())


def main(argv: list[str] | None = None) -> int:
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/answer-data"))
    parser.add_argument("--only", choices=["squad-train", "squad", "squad2", "gold"], nargs="*")
    args = parser.parse_args(argv)
    settings = Settings()
    jobs = [
        ("squad-train", "squad", datasets.load_squad_train),
        ("squad", "squad", datasets.load_squad),
        ("squad2", "squad2", datasets.load_squad2),
        ("gold", "gold", datasets.load_gold),
    ]
    ensure_indexes(settings)
    engines: dict[str, Any] = {}
    for name, index, loader in jobs:
        if args.only and name not in args.only:
            continue
        if index not in engines:
            engines[index] = retrieval_engine(settings, INDEXES.get(index, settings.index_dir))
        started = time.perf_counter()
        n = write_examples(
            args.out / f"{name}.jsonl", build_examples(engines[index], loader(), name)
        )
        print(f"{name}: {n} questions in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
