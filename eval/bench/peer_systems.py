"""The systems the peers benchmark compares, each built over the same passages and model.

citeqa is built first, by a fresh ingest of the corpus into a temporary folder (timed like the
peers' builds); its chunks are the passages every peer then embeds and indexes itself. Every
system answers questions with a fresh instance of the model, not the one that embedded the corpus
(see ``EncoderProbe``). The peers are imported inside their builders: they are optional
(`pip install -e '.[bench]'`) and an ImportError is reported as "not installed" by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .peer_text import Embed, best_sentence, passage_sentences, plain_words
from .peers import Answerer, Hit, K, Passage, Reply, Search


@dataclass(frozen=True)
class CorpusBuild:
    """citeqa's fresh index of the corpus, how long it took, and the chunks the peers index."""

    index_dir: Path
    build_s: float
    version: str
    sentences: int  # what citeqa embeds besides the chunks
    passages: list[Passage]
    documents: dict[str, str]  # doc_id -> text, for locating gold paragraphs


@dataclass(frozen=True)
class EncoderProbe:
    """One question's embedding with the fresh model instance that answers the questions
    (``fresh``) and, for a peer, with the instance that embedded the corpus (``build``), to show
    what that choice is worth and how much of a system's latency its model runtime is."""

    runtime: str
    fresh: Callable[[str], object]
    build: Callable[[str], object] | None = None


@dataclass(frozen=True)
class BuiltSystem:
    name: str
    retrieval: str  # what its search does, for the report
    answering: str  # how it turns a question into one sentence, for the report
    build_s: float
    search: Search
    answer: Answerer
    probe: EncoderProbe | None = None


Builder = Callable[[CorpusBuild, Path], list[BuiltSystem]]

TORCH = "torch (sentence-transformers)"
PEER_ANSWERING = (
    "its top-1 passage split into sentences by citeqa's segmenter (headings left out); the "
    "sentence with the highest cosine to the question, question and sentences embedded in one "
    "batch by its query-time model"
)


def build_citeqa_index(sources: Sequence[Path], index_dir: Path) -> CorpusBuild:
    """A fresh ``citeqa ingest`` of ``sources`` into ``index_dir``, timed from loading the model
    (default backend, one thread per core, as the ingest command runs) to the published index."""
    from index.config import IngestConfig
    from index.embed import DEFAULT_MODEL, load_encoder
    from index.pipeline import ingest
    from index.store import load_snapshot

    started = time.perf_counter()
    report = ingest(list(sources), index_dir, load_encoder(DEFAULT_MODEL), IngestConfig(),
                    progress=False)
    build_s = time.perf_counter() - started
    if not report.published:
        raise ValueError(f"ingesting {', '.join(map(str, sources))} published no index")
    snapshot = load_snapshot(index_dir, lease=False)
    content = snapshot.content
    return CorpusBuild(
        index_dir, build_s, snapshot.version, len(content.sentences),
        [Passage(c.doc_id, c.start, c.end, c.text) for c in content.chunks],
        {d.doc_id: d.text for d in content.documents})


def citeqa(corpus: CorpusBuild, model_dir: Path) -> list[BuiltSystem]:
    from index.embed import DEFAULT_MODEL, load_encoder
    from retriever import AnswerModel, Engine, ScoringModel

    # citeqa as it ships (default encoder backend, onnx-fp32: the same fp32 weights and vectors
    # as the peers' sentence-transformers), its question encoder and answer model on one thread
    # like everything here (serving gives the answer model two).
    encoder = load_encoder(DEFAULT_MODEL, threads=1)
    engine = Engine.open(corpus.index_dir, encoder, ScoringModel.load(),
                         reader=AnswerModel(threads=1))
    factory = engine.corpus.snapshot.manifest.get("settings", {}).get("faiss_factory", "Flat")

    def search(question: str) -> list[Hit]:
        return [Hit(h.doc_id, h.passage_start, h.passage_end, h.passage)
                for h in engine.search(question, K, mode="hybrid")]

    def answer(question: str) -> Reply:
        reply = engine.ask(question, mode="hybrid")
        return Reply(reply.answer, reply.abstained)

    return [BuiltSystem(
        "citeqa",
        f"Engine.search hybrid: chunk and sentence dense ({factory}), chunk BM25 (bm25s, its "
        "stemming tokenizer), reciprocal-rank fusion",
        "Engine.ask: pre-ranker over the candidate sentences, the answer model reads the head "
        "of the shortlist; one answer sentence, or an abstention below its threshold",
        corpus.build_s, search, answer,
        # Its ingest ran the model on every core: no like-for-like build instance to compare.
        EncoderProbe("ONNX Runtime fp32", lambda q: encoder.encode([q])))]


def langchain(corpus: CorpusBuild, model_dir: Path) -> list[BuiltSystem]:
    """Two systems sharing one FAISS store: BM25Retriever with its default tokenizer
    (``str.split``) and with lower-cased words (``plain_words``)."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document

    passages = corpus.passages
    started = time.perf_counter()
    build_model = _hf_embeddings(model_dir)
    docs = [Document(page_content=p.text, metadata={"i": i}) for i, p in enumerate(passages)]
    built_store = FAISS.from_documents(docs, build_model)
    dense_s = time.perf_counter() - started
    # The same store, queried through a fresh instance of the same weights.
    query_model = _hf_embeddings(model_dir)
    store = FAISS(embedding_function=query_model, index=built_store.index,
                  docstore=built_store.docstore,
                  index_to_docstore_id=built_store.index_to_docstore_id)
    dense = store.as_retriever(search_kwargs={"k": K})

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(query_model.embed_documents(texts), dtype=np.float32)

    tokenizers: list[tuple[str, Mapping[str, Any], str]] = [
        ("langchain", {}, "str.split, its default: case and punctuation kept"),
        ("langchain, words", {"preprocess_func": plain_words},
         "preprocess_func = lower-cased `\\w+` words, punctuation dropped"),
    ]
    out: list[BuiltSystem] = []
    for name, options, tokenizer in tokenizers:
        started = time.perf_counter()
        bm25 = BM25Retriever.from_documents(docs, k=K, **options)
        bm25_s = time.perf_counter() - started
        ensemble = EnsembleRetriever(retrievers=[bm25, dense], weights=[0.5, 0.5])

        def search(question: str, ensemble: Any = ensemble) -> list[Hit]:
            return [_hit(passages[d.metadata["i"]]) for d in ensemble.invoke(question)[:K]]

        out.append(BuiltSystem(
            name,
            "EnsembleRetriever (RRF, weights 0.5/0.5) of BM25Retriever (rank-bm25; tokenizer "
            f"{tokenizer}) and FAISS.as_retriever, HuggingFaceEmbeddings, each asked for {K}",
            PEER_ANSWERING, dense_s + bm25_s, search, sentence_answerer(search, embed),
            EncoderProbe(TORCH, query_model.embed_query, build_model.embed_query)
            if not out else None))
    return out


def txtai(corpus: CorpusBuild, model_dir: Path) -> list[BuiltSystem]:
    from txtai import Embeddings

    passages = corpus.passages
    started = time.perf_counter()
    embeddings = Embeddings(path=str(model_dir), hybrid=True, content=True)
    embeddings.index([(i, p.text, None) for i, p in enumerate(passages)])
    build_s = time.perf_counter() - started
    build_model = embeddings.model
    # A fresh instance of the same weights embeds the questions from here on.
    embeddings.model = embeddings.loadvectors()

    def search(question: str) -> list[Hit]:
        return [_hit(passages[int(r["id"])]) for r in embeddings.search(question, K)]

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embeddings.batchtransform(texts), dtype=np.float32)

    probe = EncoderProbe(TORCH, lambda q: embeddings.batchtransform([q]),
                         lambda q: build_model.batchtransform([(None, q, None)]))
    return [BuiltSystem(
        "txtai", "Embeddings(path=model, hybrid=True, content=True).search: dense (Faiss) and "
        "BM25 scores combined by txtai", PEER_ANSWERING, build_s, search,
        sentence_answerer(search, embed), probe)]


BUILDERS: Mapping[str, Builder] = {"citeqa": citeqa, "langchain": langchain, "txtai": txtai}


def sentence_answerer(search: Search, embed: Embed) -> Answerer:
    """A peer's answer: the best sentence of its top passage by ``best_sentence`` (no passage or
    no sentence: an abstention)."""

    def answer(question: str) -> Reply:
        hits = search(question)
        text = best_sentence(question, passage_sentences(hits[0].text), embed) if hits else None
        return Reply(text, text is None)

    return answer


def _hf_embeddings(model_dir: Path) -> Any:
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(model_dir), model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


def _hit(p: Passage) -> Hit:
    return Hit(p.doc_id, p.start, p.end, p.text)
