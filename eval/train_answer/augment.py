"""Synthetic unanswerable pairs: an answerable question with one of its names or numbers swapped.

Unanswerable questions that look answerable are the hardest part of the answer model's job, and
the training articles hold few of them. Many are written by changing what a question is about
while keeping its words close to the passage: another person, place or year than the sentence
speaks of. This module makes such pairs from answerable training questions: a name (a run of
capitalised words after the question's first word) or a number that the answering sentence
contains is replaced by one taken from other sentences of the same shortlist that neither the
sentence nor its context contains. The answering sentence then no longer answers, and becomes a
negative for the perturbed question.

Capitalisation marks names in Latin-script text; the recipe uses this only to make training
data, never when answering.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[\w'’-]+|[^\w\s]", re.UNICODE)
_NUMBER = re.compile(r"^\d[\d,.]*$")


@dataclass(frozen=True)
class Term:
    """A name or number in a text: its kind and its exact characters."""

    kind: str  # "name" or "number"
    text: str


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper() and any(c.isalpha() for c in token)


def terms(text: str, *, skip_first: bool = False) -> list[Term]:
    """Names (maximal runs of capitalised words) and numbers, in order of appearance."""
    tokens = _TOKEN.findall(text)
    out: list[Term] = []
    run: list[str] = []
    for i, token in enumerate(tokens):
        if _is_capitalised(token) and not (skip_first and i == 0):
            run.append(token)
            continue
        if run:
            out.append(Term("name", " ".join(run)))
            run = []
        if _NUMBER.match(token):
            out.append(Term("number", token))
    if run:
        out.append(Term("name", " ".join(run)))
    return out


def swapped_question(
    question: str, sentence: str, context: str, others: Iterable[str], rng: random.Random
) -> str | None:
    """The question with one of its names or numbers that ``sentence`` contains replaced by a
    term of the same kind from ``others`` that neither ``sentence`` nor ``context`` contains;
    None when no such swap exists."""
    seen = f"{sentence} {context}"
    targets = [t for t in terms(question, skip_first=True) if t.text in sentence]
    if not targets:
        return None
    pool: dict[str, list[str]] = {"name": [], "number": []}
    for text in others:
        for t in terms(text, skip_first=True):
            if t.text not in seen and t.text not in question and t.text not in pool[t.kind]:
                pool[t.kind].append(t.text)
    choices = [(t, pool[t.kind]) for t in targets if pool[t.kind]]
    if not choices:
        return None
    target, replacements = choices[rng.randrange(len(choices))]
    return question.replace(target.text, replacements[rng.randrange(len(replacements))], 1)


def swap_pool(sentences: Sequence[str], keep: str) -> list[str]:
    """The other sentences of a shortlist: where replacement terms come from."""
    return [s for s in sentences if s != keep]
