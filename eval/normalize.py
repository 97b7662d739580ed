"""SQuAD answer normalisation (Rajpurkar et al., 2016, official evaluation script semantics)."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("‘’“”…£€$%")
_DASHES = str.maketrans({"–": " ", "—": " ", "‑": "-"})


def normalize_answer(text: str) -> str:
    """Lower-case, delete punctuation, drop the articles a/an/the, collapse white space.

    As the official script, plus typographic quotes and currency signs (so "£15m" and "15m"
    compare equal, and "Rotheram’s" equals "Rotheram's"). ASCII hyphens are deleted as in the
    official script; en and em dashes separate words ("1920–1999" holds "1999").
    """
    text = text.lower().translate(_DASHES)
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(text: str | None, answers: tuple[str, ...] | list[str]) -> bool:
    """True when the normalised text contains one normalised gold answer (plain substring, as the
    benchmark README defines answer@1; an empty text or empty answer never matches)."""
    if not text:
        return False
    haystack = normalize_answer(text)
    return any(needle in haystack for needle in map(normalize_answer, answers) if needle)
