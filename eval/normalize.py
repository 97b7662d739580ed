"""SQuAD answer normalisation (Rajpurkar et al., 2016, official evaluation script semantics)."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("‘’“”–—…£€$%")


def normalize_answer(text: str) -> str:
    """Lower-case, delete punctuation, drop the articles a/an/the, collapse white space.

    As the official script, plus typographic quotes, dashes and currency signs (so "£15m" and
    "15m" compare equal, and "Rotheram’s" equals "Rotheram's"). Hyphens are deleted, not spaced.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(text: str | None, answers: tuple[str, ...] | list[str]) -> bool:
    """True when the normalised text contains one normalised gold answer as whole words."""
    if not text:
        return False
    haystack = f" {normalize_answer(text)} "
    return any(
        f" {normalize_answer(a)} " in haystack for a in answers if normalize_answer(a)
    )
