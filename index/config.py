"""How an index is built (``IngestConfig``), apart from the ingest pipeline itself.

A module of its own so that settings, and with them the serving process, can name the build
configuration without importing the loaders and splitters that only ingest needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexical import TOKENIZER_VERSION
from .manifest import BuildSettings
from .segment import SEGMENTER_VERSION


@dataclass(frozen=True)
class IngestConfig:
    # Characters per chunk and shared by neighbours: not settings, since the pre-ranker and the
    # answer model were fitted on candidates drawn from chunks of this size (the manifest records
    # both, so an index built otherwise says so).
    chunk_size: int = 1000
    chunk_overlap: int = 150
    faiss_factory: str = "Flat"
    # The usual BM25 defaults (Robertson & Zaragoza), under which the pre-ranker's BM25 feature
    # was fitted; recorded in the manifest.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    max_file_bytes: int = 50_000_000
    # Reading, parsing and segmenting one file (not embedding it) must finish within this.
    max_file_seconds: float = 120.0
    # Follow symlinks whose target is outside the folder being ingested (off: they are skipped
    # and reported, so a link to /etc/passwd is never served).
    follow_external_symlinks: bool = False
    keep_versions: int = 3
    # Processes that read, parse and segment files ahead of the encoder (0: the ingest process
    # does it between embeddings). Not a build setting: the records are the same either way.
    loaders: int = 1
    # Superseded versions younger than this stay on disk, so citations given from them resolve.
    version_grace_s: float = 0.0

    def build_settings(self) -> BuildSettings:
        return BuildSettings(
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            segmenter=SEGMENTER_VERSION,
            tokenizer=TOKENIZER_VERSION,
            faiss_factory=self.faiss_factory,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
        )
