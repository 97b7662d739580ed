"""Wrapped-text benchmark: does hard wrapping change what the segmenter (and the answers) see?

    python -m eval.wrapped              # re-wrap SQuAD 2.0 at 72 columns, compare sentences
    python -m eval.wrapped --answers    # also ingest both corpora and compare answers (heavy)

Every paragraph of the SQuAD 2.0 corpus is re-wrapped with ``textwrap`` (blank lines between
paragraphs kept; words are never broken, so a gold answer is never split by an artificial
hyphen) and written to ``var/bench/squad2-wrapped-corpus/`` under the same file names (doc ids are
file stems, so the questions' gold documents still match). Sentence agreement is the share of
sentences that come out identical, compared with all whitespace removed (a wrapped sentence holds
line breaks where the original has spaces).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.segment import split_sentences

from . import datasets
from .markdown_table import markdown_table

WRAP_WIDTH = 72
WRAPPED_CORPUS = Path("var/bench/squad2-wrapped-corpus")
WRAPPED_INDEX = Path("var/bench/squad2-wrapped-index")
PLAIN_INDEX = Path("var/bench/squad2-index")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")


def rewrap(text: str, width: int = WRAP_WIDTH) -> str:
    """``text`` with every paragraph (block between blank lines) hard-wrapped at ``width``."""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    wrapped = (
        textwrap.fill(p, width, break_long_words=False, break_on_hyphens=False)
        for p in paragraphs
    )
    return "\n\n".join(wrapped) + "\n"


def sentence_keys(text: str) -> list[str]:
    """The text's sentences with whitespace removed (wrapping only moves whitespace)."""
    return [_SPACE.sub("", text[s.start : s.end]) for s in split_sentences(text)]


@dataclass(frozen=True)
class Agreement:
    documents: int
    plain_sentences: int
    wrapped_sentences: int
    identical: int  # sentences found alike in both (as a multiset, per document)
    exact_spans: bool  # every wrapped sentence span slices back to itself, trimmed

    @property
    def share(self) -> float:
        return self.identical / max(self.plain_sentences, self.wrapped_sentences, 1)


def _spans_exact(text: str) -> bool:
    return all(
        0 <= s.start < s.end <= len(text) and text[s.start : s.end] == text[s.start : s.end].strip()
        for s in split_sentences(text)
    )


def agreement(pairs: Iterable[tuple[str, str]]) -> Agreement:
    """Sentence agreement over ``(plain, wrapped)`` document texts."""
    docs = plain_n = wrapped_n = same = 0
    exact = True
    for plain, wrapped in pairs:
        a, b = sentence_keys(plain), sentence_keys(wrapped)
        docs += 1
        plain_n += len(a)
        wrapped_n += len(b)
        same += sum((Counter(a) & Counter(b)).values())
        exact = exact and _spans_exact(wrapped)
    return Agreement(docs, plain_n, wrapped_n, same, exact)


def write_wrapped_corpus(source: Path, target: Path, width: int = WRAP_WIDTH) -> list[Path]:
    """Re-wrap every .txt of ``source`` into ``target`` (same names); the paths written."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.glob("*.txt")):
        out = target / path.name
        out.write_text(rewrap(path.read_text(encoding="utf-8"), width), encoding="utf-8")
        written.append(out)
    return written


def agreement_table(result: Agreement, width: int) -> str:
    return "\n".join(markdown_table(
        ("corpus", "width", "documents", "sentences (plain)", "sentences (wrapped)", "identical",
         "agreement", "spans exact"),
        [("SQuAD 2.0 dev", width, result.documents, result.plain_sentences,
          result.wrapped_sentences, result.identical, f"{result.share:.4f}",
          "yes" if result.exact_spans else "NO")]))


def _answers(corpus: Path, index_dir: Path, settings: Any) -> dict[str, float | None]:
    """The SQuAD 2.0 test split's answer figures over one corpus (ingested first)."""
    from index.pipeline import ingest
    from service.wiring import make_encoder, open_engine

    from . import metrics
    from .harness import EngineTarget, run

    encoder = make_encoder(settings)
    ingest([corpus], index_dir, encoder, settings.ingest_config(), progress=True)
    engine = open_engine(settings.model_copy(update={"index_dir": index_dir}), encoder)
    questions = [q for q in datasets.load_squad2() if q.split == "test"]
    target: Any = EngineTarget(engine)  # as eval.cli: the Target protocol's tuple is looser
    rows = run(questions, target, dataset="squad2", split="test", modes=["hybrid"]).rows
    summary = metrics.summarize_qa(rows)
    keys = ("answer_at_1", "accuracy", "abstention_recall", "false_abstention_rate", "span_f1",
            "citation_validity", "citations_checked")
    return {key: summary[key] for key in keys}


def answers_table(plain: dict[str, float | None], wrapped: dict[str, float | None]) -> str:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    return "\n".join(markdown_table(("metric", "plain", "wrapped"),
                                    [(key, fmt(plain[key]), fmt(wrapped.get(key)))
                                     for key in plain]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=WRAP_WIDTH)
    parser.add_argument("--out", type=Path, default=WRAPPED_CORPUS)
    parser.add_argument("--answers", action="store_true",
                        help="ingest both corpora and compare answer@1 / abstention (slow)")
    args = parser.parse_args(argv)
    source = datasets.squad2_corpus()
    written = write_wrapped_corpus(source, args.out, args.width)
    pairs = ((
        (source / p.name).read_text(encoding="utf-8"), p.read_text(encoding="utf-8")
    ) for p in written)
    print(agreement_table(agreement(pairs), args.width))
    if args.answers:
        from service.settings import Settings

        settings = Settings()
        plain = _answers(source, PLAIN_INDEX, settings)
        wrapped = _answers(args.out, WRAPPED_INDEX, settings)
        print()
        print(answers_table(plain, wrapped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
