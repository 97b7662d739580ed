"""Recall as served: each dense index of the served version, searched with the parameters it is
served with, against exact search (what `citeqa bench` reports beside its latencies).

The recall is measured the way ``index.vectors.tune`` measured it at build (a fixed-seed sample
of the indexed vectors as queries, each query's own row left out), on the loaded index, so a
version whose parameters were lost or never recorded shows it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..markdown_table import markdown_table

# Fewer queries than the build's tuning: the bench only checks, and 200 x 10 neighbours bound the
# estimate's standard error near 0.005.
QUERIES = 200


@dataclass(frozen=True)
class ServedIndex:
    corpus: str
    file: str
    factory: str  # the factory setting the version was built with
    built: str  # the FAISS class actually built (a small collection falls back to Flat)
    vectors: int
    search_params: str  # as served; "not recorded" for a version built before tuning
    recorded_recall_at_10: float | None  # measured at build, from the manifest
    served_recall_at_10: float  # measured now on the loaded index


@dataclass(frozen=True)
class ServedIndexes:
    rows: tuple[ServedIndex, ...]


def measure(snapshot: Any, corpus: str) -> ServedIndexes:
    """Served recall@10 of the chunk and sentence indexes of ``snapshot`` (an IndexSnapshot)."""
    from index.manifest import dense_search_entry
    from index.vectors import served_recall

    factory = snapshot.manifest.get("settings", {}).get("faiss_factory", "Flat")
    rows = []
    for name, dense, vectors in (
        ("chunks.faiss", snapshot.chunk_dense, snapshot.content.chunk_vectors),
        ("sentences.faiss", snapshot.sentence_dense, snapshot.content.sentence_vectors),
    ):
        entry = dense_search_entry(snapshot.manifest, name)
        recorded = entry.get("recall_at_10") if isinstance(entry, dict) else None
        params = "not recorded" if dense.tuning is None else (dense.tuning.as_string() or "exact")
        rows.append(ServedIndex(corpus, name, factory, dense.description, len(dense), params,
                                recorded, served_recall(dense, vectors, QUERIES)))
    return ServedIndexes(tuple(rows))


def markdown(sections: dict[str, Any]) -> list[str]:
    rows = [row for key in ("served_index_seeds", "served_index_squad")
            if isinstance(sections.get(key), ServedIndexes) for row in sections[key].rows]
    if not rows:
        return []
    table = markdown_table(
        ("corpus", "file", "factory", "built", "vectors", "search params", "recall@10 at build",
         "recall@10 served"),
        [(r.corpus, r.file, f"`{r.factory}`", r.built, r.vectors, r.search_params,
          "–" if r.recorded_recall_at_10 is None else r.recorded_recall_at_10,
          r.served_recall_at_10) for r in rows], cell=str)
    return ["## Dense indexes as served", "",
            "Recall@10 against exact search of each served FAISS index, with the search "
            f"parameters it is served with ({QUERIES} stored vectors as queries, fixed seed, "
            "each query's own row left out).", "", *table, ""]
