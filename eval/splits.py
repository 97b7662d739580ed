"""Article-level train / dev / test splits shared by training, tuning and reporting.

Every SQuAD question (v1.1 sample, v1.1 training questions, v2.0) is assigned by the article it
comes from, never by the question, so no article has questions on two sides. The articles behind
``squad-v1.1-dev/questions-train.jsonl`` are training articles by construction; every other
article is placed by a hash of its name (half train, a fifth dev, the rest test), fixed once and
never re-drawn to move a result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

Split = Literal["train", "dev", "test"]
_TRAIN_BELOW = 128  # first sha256 byte < 128: train (1/2)
_DEV_BELOW = 179  # < 179: dev (1/5); the rest: test (3/10)


def article_split(article: str, training_articles: Iterable[str] = ()) -> Split:
    """The split of one article, named by its corpus file stem ("normans")."""
    if article in set(training_articles):
        return "train"
    first = hashlib.sha256(article.encode("utf-8")).digest()[0]
    if first < _TRAIN_BELOW:
        return "train"
    return "dev" if first < _DEV_BELOW else "test"
