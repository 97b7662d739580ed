"""SQuAD span scores for one answer: exact match and token F1 of the highlighted span.

The definitions are those of the official SQuAD v1.1 evaluation script (``exact_match_score``,
``f1_score``, each taken as the max over the gold answers), on ``eval.normalize.normalize_answer``.
citeqa quotes whole sentences, so the span compared is the answer's ``highlight``; without one,
the whole quote is the prediction (and is scored, honestly, as the long span it is).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from .normalize import normalize_answer


def span_prediction(
    answer: str | None, highlight: Mapping[str, int] | None, abstained: bool
) -> str | None:
    """The text scored as the predicted span: the highlighted part of ``answer`` when the highlight
    lies within it (start < end), else the whole answer; None for an abstention or no answer."""
    if abstained or not answer:
        return None
    if highlight:
        start, end = highlight.get("start", -1), highlight.get("end", -1)
        if 0 <= start < end <= len(answer):
            return answer[start:end]
    return answer


def exact_match(prediction: str | None, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0 (no
    prediction, or no gold answers: 0.0)."""
    if prediction is None:
        return 0.0
    said = normalize_answer(prediction)
    return float(any(said == normalize_answer(a) for a in answers))


def token_f1(prediction: str | None, answers: Sequence[str]) -> float:
    """SQuAD token F1, the max over gold answers: bag-of-tokens overlap of the normalised texts,
    2PR/(P+R); 0.0 when nothing is shared, for no prediction, or for no gold answers."""
    if prediction is None:
        return 0.0
    said = normalize_answer(prediction).split()
    return max((_f1(said, normalize_answer(a).split()) for a in answers), default=0.0)


def _f1(said: list[str], gold: list[str]) -> float:
    same = sum((Counter(said) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(said), same / len(gold)
    return 2 * precision * recall / (precision + recall)
