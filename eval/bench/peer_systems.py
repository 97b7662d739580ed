"""The systems the peers benchmark compares, each built over the same passages and model.

A builder takes the passages and returns (setup description, search function, build seconds).
The peers are imported inside their builders: they are optional (`pip install -e '.[bench]'`)
and an ImportError is reported as "not installed" by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from index.store import IndexSnapshot

from .peers import Hit, K, Passage, Search

Builder = Callable[[list[Passage]], tuple[str, Search, float | None]]


def builders(snapshot: IndexSnapshot, model_dir: Path) -> dict[str, Builder]:
    return {
        "citeqa": lambda passages: _citeqa(snapshot),
        "langchain": lambda passages: _langchain(passages, model_dir),
        "txtai": lambda passages: _txtai(passages, model_dir),
    }


def _citeqa(snapshot: IndexSnapshot) -> tuple[str, Search, float | None]:
    from index.embed import DEFAULT_MODEL, load_encoder
    from retriever.engine import Engine
    from retriever.weights import ScoringModel

    # citeqa as it ships: the default encoder backend (onnx-fp32: the same fp32 weights and
    # vectors as the peers' sentence-transformers), on one thread like everything here.
    engine = Engine(snapshot, load_encoder(DEFAULT_MODEL, threads=1), ScoringModel.load())
    factory = snapshot.manifest.get("settings", {}).get("faiss_factory", "Flat")

    def search(question: str) -> list[Hit]:
        return [Hit(h.doc_id, h.passage_start, h.passage_end, h.passage)
                for h in engine.search(question, K, mode="hybrid")]

    return f"Engine.search hybrid (chunk + sentence dense, {factory}; BM25 bm25s; fusion)", \
        search, None


def _langchain(passages: list[Passage], model_dir: Path) -> tuple[str, Search, float]:
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    started = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(
        model_name=str(model_dir), model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )
    docs = [Document(page_content=p.text, metadata={"i": i}) for i, p in enumerate(passages)]
    store = FAISS.from_documents(docs, embeddings)
    bm25 = BM25Retriever.from_documents(docs, k=K)
    ensemble = EnsembleRetriever(
        retrievers=[bm25, store.as_retriever(search_kwargs={"k": K})], weights=[0.5, 0.5]
    )
    build_s = time.perf_counter() - started

    def search(question: str) -> list[Hit]:
        return [_hit(passages[d.metadata["i"]]) for d in ensemble.invoke(question)[:K]]

    return "EnsembleRetriever(BM25Retriever, FAISS, weights 0.5/0.5), HuggingFaceEmbeddings", \
        search, build_s


def _txtai(passages: list[Passage], model_dir: Path) -> tuple[str, Search, float]:
    from txtai import Embeddings

    started = time.perf_counter()
    embeddings = Embeddings(path=str(model_dir), hybrid=True, content=True)
    embeddings.index([(i, p.text, None) for i, p in enumerate(passages)])
    build_s = time.perf_counter() - started

    def search(question: str) -> list[Hit]:
        return [_hit(passages[int(r["id"])]) for r in embeddings.search(question, K)]

    return "Embeddings(path=model, hybrid=True, content=True)", search, build_s


def _hit(p: Passage) -> Hit:
    return Hit(p.doc_id, p.start, p.end, p.text)
