"""Support signals: how much of what a question asks about the text the answer model read holds.

Studied as inputs to the confidence model beside the reader's score
(``confidence_study``); serving does not use them (the study found they add little).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SUPPORT = ("uncovered_rarest", "uncovered_share", "sentence_uncovered_share", "unknown_mass",
           "matched_evidence")


def answer_support(
    question_terms: Sequence[str],
    sentence_tokens: frozenset[str],
    context_tokens: frozenset[str],
    idf: Callable[[str], float],
    unseen_idf: float,
) -> dict[str, float]:
    """How much of what the question asks about the text the answer model read holds: the
    candidate sentence and its context (title, previous sentence). Unanswerable questions often
    name something the best candidate does not (another person, year or place), which the
    reader, seeing one sentence at a time, scores poorly. Each value is bounded:

    - ``uncovered_rarest``: IDF of the rarest question term missing from sentence and context,
      relative to the question's rarest term (1.0: its most specific term is not there);
    - ``uncovered_share`` / ``sentence_uncovered_share``: IDF-weighted share of question terms
      missing from sentence and context / from the sentence alone;
    - ``unknown_mass``: IDF-weighted share of question terms that occur nowhere in the collection;
    - ``matched_evidence``: IDF of the terms present, in units of an unseen term's (absolute: a
      candidate sharing only a word found everywhere links to the question weakly)."""
    terms = set(question_terms)
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values())
    if not terms or total <= 0:
        return dict.fromkeys(SUPPORT, 0.0)
    read = sentence_tokens | context_tokens
    missing = [w for t, w in weights.items() if t not in read]
    return {
        "uncovered_rarest": max(missing, default=0.0) / max(weights.values()),
        "uncovered_share": sum(missing) / total,
        "sentence_uncovered_share": sum(
            w for t, w in weights.items() if t not in sentence_tokens) / total,
        "unknown_mass": sum(w for w in weights.values() if w >= unseen_idf) / total,
        "matched_evidence": sum(w for t, w in weights.items() if t in read) / unseen_idf,
    }
