"""Sharded ingest on Ray: a Ray Data pipeline loads and segments the documents (``map``) and
embeds them in a pool of ``workers`` actors that each load the encoder once (``map_batches``
with a class; Ray Data may fuse the two steps into the actors); each shard is then written from
those vectors in a Ray task of its own by the one-process ingest (``cluster.ingest.build_shard``,
which segments each file again, the cheap part, and looks its vectors up), so a shard is byte
for byte what one process builds.

Only new or changed files are embedded (a file whose bytes the shard's current version already
holds is reused by the shard build, as in one process). Each document is embedded in its own
``encode`` call, as ingest does, so its vectors never depend on its neighbours in a batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.config import IngestConfig
from index.embed import Encoder, ModelIdentity
from index.manifest import IndexCorrupt, IndexMismatch
from index.records import LoadError
from index.sources import Source, read_source
from index.store import IndexNotFound, open_previous
from index.units import model_texts

from .ingest import BuildShards, ShardBuilt, ShardJob, build_shard

EncoderFactory = Callable[[], Encoder]


def texts_key(texts: Sequence[str]) -> str:
    """What names one ``encode`` call's input."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()


class PrecomputedEncoder:
    """The shard build's encoder: vectors the actors computed, looked up by the texts of the
    call; anything else (the manifest's probe sentences) goes to the real encoder."""

    def __init__(self, encoder: Encoder, vectors: dict[str, np.ndarray]) -> None:
        self._encoder, self._vectors = encoder, vectors
        self.identity: ModelIdentity = encoder.identity

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        found = self._vectors.get(texts_key(texts))
        return found if found is not None else self._encoder.encode(texts)


def _known(job: ShardJob) -> dict[str, str]:
    """doc id -> content sha256 of what the shard's current version holds (nothing when it
    cannot be reused: the build then embeds everything, here as there)."""
    try:
        previous = open_previous(job.index_dir)
    except (IndexNotFound, IndexCorrupt, IndexMismatch):
        return {}
    try:
        return {d: e["content_sha256"] for d, e in previous.manifest["documents"].items()}
    finally:
        previous.close()


def files_to_embed(jobs: Sequence[ShardJob], config: IngestConfig) -> list[dict[str, Any]]:
    """The files whose bytes no shard version holds yet."""
    out = []
    for job in jobs:
        known = _known(job)
        for path in job.files:
            try:
                data = read_source(path, Source.named(path).root, config.max_file_bytes)
            except LoadError:
                continue  # the shard build reports it
            if known.get(path.stem) != hashlib.sha256(data).hexdigest():
                out.append({"path": str(path), "shard": job.shard})
    return out


def _segment(row: dict[str, Any], config: IngestConfig) -> dict[str, Any]:
    """A Ray task: load and segment one file; the texts the model reads, or none."""
    from index.pipeline import load_and_segment

    path = Path(row["path"])
    source = Source.named(path)
    try:
        data = read_source(path, source.root, config.max_file_bytes)
        segmented = load_and_segment(source, data, hashlib.sha256(data).hexdigest(), config)
    except LoadError:
        return {"key": "", "texts": [], "shard": row["shard"]}
    texts = model_texts(segmented)
    return {"key": texts_key(texts), "texts": texts, "shard": row["shard"]}


class _Embedder:
    """A Ray Data actor: loads the encoder once, embeds one document per call."""

    def __init__(self, make_encoder: EncoderFactory) -> None:
        self._encoder = make_encoder()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        # Float32 bytes per document (documents differ in length; Arrow stores bytes as is).
        vectors = [np.ascontiguousarray(self._encoder.encode([str(t) for t in texts]),
                                        dtype=np.float32).tobytes() if len(texts) else b""
                   for texts in batch["texts"]]
        return {"key": batch["key"], "shard": batch["shard"],
                "vectors": np.array(vectors, dtype=object)}


def embed_on_ray(ray: Any, rows: list[dict[str, Any]], make_encoder: EncoderFactory,
                 config: IngestConfig, workers: int) -> dict[int, dict[str, np.ndarray]]:
    """Per shard: texts key -> vectors of every file in ``rows``."""
    if not rows:
        return {}
    dataset = ray.data.from_items(rows).map(_segment, fn_kwargs={"config": config})
    embedded = dataset.map_batches(
        _Embedder, fn_constructor_args=(make_encoder,),
        compute=ray.data.ActorPoolStrategy(size=workers), batch_size=1, num_cpus=1,
        batch_format="numpy",
    )
    dim = make_encoder().identity.dim
    out: dict[int, dict[str, np.ndarray]] = {}
    for row in embedded.iter_rows():
        if row["key"]:
            out.setdefault(int(row["shard"]), {})[row["key"]] = np.frombuffer(
                row["vectors"], dtype=np.float32).reshape(-1, dim)
    return out


def _write_shard(job: ShardJob, vectors: dict[str, np.ndarray], make_encoder: EncoderFactory,
                 config: IngestConfig) -> ShardBuilt:
    """A Ray task: one shard written from its documents' vectors (the model is loaded only for
    the manifest's probe sentences)."""
    return build_shard(job, PrecomputedEncoder(make_encoder(), vectors), config)


def build_on_ray(ray: Any, make_encoder: EncoderFactory, config: IngestConfig,
                 workers: int) -> BuildShards:
    """``BuildShards`` that embeds on the cluster, then writes each shard in a Ray task of its
    own (in parallel; the index directory must be on storage every node sees)."""
    def run(jobs: Sequence[ShardJob]) -> list[ShardBuilt]:
        vectors = embed_on_ray(ray, files_to_embed(jobs, config), make_encoder, config, workers)
        write = ray.remote(num_cpus=1)(_write_shard)
        return list(ray.get([write.remote(job, vectors.get(job.shard, {}), make_encoder,
                                          config) for job in jobs]))
    return run
