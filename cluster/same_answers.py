"""The broad check behind the sharded index's promise: one index and an N-shard index of the same
documents give byte-identical answers (``eval.same_answers.stable_answer``: all but timings and
the version id) for every gold question on the seeds and every SQuAD v1.1 sample question.

    python -m cluster.same_answers [--shards 3] [--speculate] [--work var/cluster-same]

Both indexes are built fresh with the configured encoder; the sharded one is answered in this
process (``cluster.local``), which is what the cluster serves. Exit 1 when any answer differs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from eval import datasets
from eval.same_answers import stable_answer
from index.pipeline import ingest
from retriever.engine import Engine
from service.settings import Settings
from service.wiring import make_encoder, make_reader

from .ingest import build_in_process, ingest_sharded
from .local import open_local


def _line(answer: dict[str, object]) -> str:
    return json.dumps(stable_answer(answer), sort_keys=True, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("var/cluster-same"))
    parser.add_argument("--speculate", action="store_true",
                        help="shards send their candidates with their rankings")
    args = parser.parse_args(argv)
    settings = Settings()
    encoder, reader = make_encoder(settings), make_reader(settings)
    config = settings.ingest_config()
    sets = [("gold", Path("seeds"), datasets.load_gold()),
            ("squad", datasets.squad_corpus(), datasets.load_squad())]
    differing = []
    total = 0
    for name, corpus, questions in sets:
        one, sharded = args.work / f"{name}-one", args.work / f"{name}-{args.shards}"
        for folder in (one, sharded):
            shutil.rmtree(folder, ignore_errors=True)  # built by the code under test
        ingest([corpus], one, encoder, config, progress=False)
        ingest_sharded([corpus], sharded, args.shards, build_in_process(encoder, config))
        whole = Engine.open(one, encoder, reader=reader)
        parts = open_local(sharded, encoder, reader=reader, speculate=args.speculate)
        for q in questions:
            a = _line(whole.ask(q.question, settings.top_k).model_dump(mode="json"))
            b = _line(parts.ask(q.question, settings.top_k).model_dump(mode="json"))
            differing += [] if a == b else [f"{name}:{q.id}"]
        total += len(questions)
        print(f"{name}: {len(questions)} questions", file=sys.stderr)
    print(f"{total - len(differing)}/{total} answers byte-identical "
          f"(1 index vs {args.shards} shards)")
    for qid in differing[:20]:
        print(f"  differs: {qid}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
