"""What kind of thing a question asks for, and where such things occur in a sentence.

Pure regular-expression logic: a question's expected answer type ("when" -> date, "how much" ->
amount, "who" -> person, ...), typed mentions in a sentence (dates, amounts, percentages, counts,
proper names), and quantities normalised to a value and a unit for conflict detection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from index.lexical import tokenize

AnswerType = Literal[
    "date",
    "year",
    "amount",
    "percent",
    "count",
    "number",
    "person",
    "place",
    "org",
    "name",
    "list",
    "other",
]
MentionType = Literal["date", "year", "amount", "percent", "number", "name"]

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_SCALE = r"(?:thousand|million|billion|trillion|bn|m|k|tn)"
_CURRENCY = r"[£$€¥]"

_PATTERNS: list[tuple[MentionType, re.Pattern[str]]] = [
    (
        "date",
        re.compile(
            rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?,?\s+\d{{4}}"
            rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
            rf"|(?:{_MONTHS})\.?\s+\d{{4}}"
            rf"|(?:early|mid|late)[-\s]\d{{4}}s?"
            r"|\d{1,2}/\d{1,2}/\d{2,4})\b"
        ),
    ),
    (
        "amount",
        re.compile(
            rf"{_CURRENCY}\s?\d[\d,]*(?:\.\d+)?(?:\s?{_SCALE}\b)?"
            rf"|\b\d[\d,]*(?:\.\d+)?\s?(?:{_SCALE}\s)?(?:pounds|dollars|euros|GBP|USD|EUR)\b",
            re.IGNORECASE,
        ),
    ),
    ("percent", re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|per\s?cent|percent)", re.IGNORECASE)),
    ("year", re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")),
    (
        "number",
        re.compile(
            rf"\b\d[\d,]*(?:\.\d+)?(?:\s?{_SCALE}\b)?"
            r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
            r"forty|fifty|hundred|dozen)\b",
            re.IGNORECASE,
        ),
    ),
]
# Proper names: runs of capitalised words, allowing short connectors ("University of Liverpool").
_NAME = re.compile(
    r"\b(?:[A-Z][\w’'\-.&]*[\w]|[A-Z])(?:\s+(?:(?:of|the|and|for|de|van|von|du|&)\s+)?"
    r"(?:[A-Z][\w’'\-.&]*[\w]|[A-Z]))*"
)
# Nouns naming a measured quantity: "what is the population of …" wants a number.
_MEASURES = (
    r"(?:(?:approximate|estimated|total|average|current|maximum|minimum|combined) )?"
    r"(?:population|size|length|height|width|depth|distance|weight|mass|capacity|"
    r"temperature|speed|altitude|elevation|volume|density|duration)"
)
# Question words (as index tokens): they say what kind of answer is wanted, which the answer
# type captures, and are not words the answer shares with the question.
QUESTION_WORDS = frozenset(
    {"what", "which", "who", "whom", "whose", "when", "where", "whi", "how", "much", "mani"}
)
_TITLES = ("Professor", "Prof.", "Dr.", "Dr", "Mr", "Mrs", "Ms", "Sir", "Dame")


@dataclass(frozen=True)
class Mention:
    kind: MentionType
    start: int
    end: int
    text: str


def content_terms(tokens: list[str]) -> list[str]:
    """Question tokens without the question words (all of them when nothing else is left)."""
    kept = [t for t in tokens if t not in QUESTION_WORDS]
    return kept or tokens


def question_type(question: str) -> AnswerType:
    """The expected answer type, from the question's wording (English wh-patterns)."""
    q = question.lower().strip()
    if re.search(
        r"\b(how much|what (?:is|was) the (?:cost|value|budget|price)|how large|"
        r"what amount|what sum|worth)\b",
        q,
    ):
        return "amount"
    if re.search(
        r"\b(what|which) (?:percentage|percent|proportion|share|rate)\b|\bhow many percent", q
    ):
        return "percent"
    if re.search(r"\bhow many\b|\bnumber of\b", q):
        return "count"
    if re.search(
        rf"\b(?:what|which)(?:'s| (?:is|was|are|were|will be))? (?:the )?{_MEASURES}\b", q
    ):
        return "number"
    if re.search(r"\b(what|which) year\b|\bin what year\b", q):
        return "year"
    if re.search(
        r"^when\b|\bwhen (?:was|were|did|is|will|does|do)\b|\b(what|which) (?:date|day|"
        r"month|time)\b|\bby when\b|\bhow long ago\b",
        q,
    ):
        return "date"
    if re.search(
        r"^(?:who|whom|whose)\b|\bwho\b|\b(what|which) (?:person|people|leader|mayor|"
        r"professor|chief|head|president|vice-chancellor|minister|individual)\b|\bname "
        r"of the (?:person|leader|mayor|chair)",
        q,
    ):
        return "person"
    if re.search(
        r"^where\b|\bwhere\b|\b(what|which) (?:city|country|place|venue|location|"
        r"region|town|county)\b",
        q,
    ):
        return "place"
    if re.search(
        r"\b(what|which) (?:organi[sz]ation|company|university|institution|body|agency|"
        r"universities|organi[sz]ations|companies|bodies)\b",
        q,
    ):
        return "org"
    if re.search(
        r"\b(list|name (?:the|all|some)|what are (?:the|some)|which (?:areas|sectors|"
        r"fields|themes|topics|priorities)|what (?:areas|sectors|fields|themes|topics|"
        r"priorities))\b",
        q,
    ):
        return "list"
    if re.search(r"\bhow (?:big|large|long|old|far|fast|high|tall|deep|wide|heavy)\b", q):
        return "number"
    if re.search(r"\bwhat (?:is|was) the name\b|\bcalled\b|\bknown as\b", q):
        return "name"
    return "other"


def mentions(text: str) -> list[Mention]:
    """Typed mentions, earliest and longest first; a character belongs to at most one mention."""
    found: list[Mention] = []
    taken = [False] * len(text)
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            found.append(Mention(kind, m.start(), m.end(), m.group()))
            for i in range(m.start(), m.end()):
                taken[i] = True
    for m in _NAME.finditer(text):
        start, end = m.start(), m.end()
        if any(taken[start:end]):
            continue
        sentence_initial = start == 0 or text[:start].rstrip().endswith(
            (".", "!", "?", ":", "“", '"')
        )
        if sentence_initial and " " not in m.group():
            continue  # a capital at a sentence start is weak evidence: keep multi-word names only
        found.append(Mention("name", start, end, m.group()))
    return sorted(found, key=lambda x: (x.start, -x.end))


_ACCEPTS: dict[AnswerType, tuple[MentionType, ...]] = {
    "date": ("date", "year"),
    "year": ("year", "date"),
    "amount": ("amount",),
    "percent": ("percent",),
    "count": ("number", "amount"),
    "number": ("number", "amount", "percent"),
    "person": ("name",),
    "place": ("name",),
    "org": ("name",),
    "name": ("name",),
}


def matching_mentions(
    qtype: AnswerType, text: str, question: str, found: list[Mention] | None = None
) -> list[Mention]:
    """Mentions in ``text`` of the type the question wants, leaving out what the question says.
    ``found`` is ``mentions(text)`` when the caller already has it."""
    accepted = _ACCEPTS.get(qtype)
    if not accepted:
        return []
    asked = question.lower()
    out = []
    for mention in mentions(text) if found is None else found:
        if mention.kind not in accepted:
            continue
        if mention.text.lower() in asked:
            continue
        if qtype == "person" and not _looks_like_person(mention.text):
            continue
        out.append(mention)
    return out


def _looks_like_person(name: str) -> bool:
    """A title before it, or two to four capitalised words (a shape, not a list of names)."""
    words = name.split()
    if any(w.rstrip(".") in {t.rstrip(".") for t in _TITLES} for w in words[:1]):
        return True
    return 2 <= len(words) <= 4 and not {w.lower() for w in words} & _CONNECTORS


_CONNECTORS = frozenset({"of", "the", "and", "for", "&"})


# ---- quantities, for conflicts ---------------------------------------------------------------

_QUANTITY = re.compile(
    rf"(?P<cur>{_CURRENCY})?\s?(?P<num>\d[\d,]*(?:\.\d+)?)(?:\s?(?P<scale>{_SCALE})\b)?"
    r"(?P<pct>\s?%)?"
    r"(?P<tail>(?:[\s,]+[A-Za-z][\w‑-]*){0,4})",
)
_WORD = re.compile(r"[A-Za-z][\w‑-]*")
# General English words that sit between a number and the noun it counts ("about 40 more jobs").
_QUANTIFIER_WORDS = frozenset({
    "new", "additional", "extra", "more", "further", "other", "around", "approximately",
    "about", "nearly", "almost", "over", "up", "to", "than", "some",
})
_SCALE_VALUE = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # a currency sign, or the noun counted ("jobs")
    start: int
    end: int


def quantities(text: str) -> list[Quantity]:
    """Numbers with a unit: "£41.7bn" -> (41.7e9, "£"), "44,000 jobs" -> (44000, "jobs")."""
    out = []
    for m in _QUANTITY.finditer(text):
        number = float(m.group("num").replace(",", "").rstrip("."))
        scale = (m.group("scale") or "").lower()
        value = number * _SCALE_VALUE.get(scale, 1.0)
        noun = _counted_noun(m.group("tail") or "")
        if m.group("cur"):
            unit = m.group("cur")
        elif m.group("pct"):
            unit = "percent"  # "5%" and "5 percent" are one unit
        elif noun and not re.fullmatch(r"\d{4}", m.group("num")):
            unit = noun
        else:
            continue
        out.append(Quantity(value=value, unit=unit, start=m.start(), end=m.end()))
    return out


def quantity_context(text: str, quantity: Quantity, words: int = 6) -> frozenset[str]:
    """Index tokens of the few words either side of a quantity (and its unit noun): what the
    figure is about ("£42bn to the local economy" -> {local, economi, ...})."""
    before = _WORD.findall(text[: quantity.start])[-words:]
    after = _WORD.findall(text[quantity.end :])[:words]
    return frozenset(tokenize(" ".join(before + after))) | (
        {quantity.unit} if quantity.unit.isalpha() else set()
    )


def _counted_noun(tail: str) -> str | None:
    """The noun a number counts: the first following word that is not a modifier."""
    for word in _WORD.findall(tail):
        lowered = word.lower()
        skip = lowered in _QUANTIFIER_WORDS or lowered.endswith("ly")
        if "-" in lowered or "‑" in lowered or skip:
            continue
        return lowered.rstrip("s") if lowered.isalpha() else None
    return None
