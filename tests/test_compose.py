"""Conflict detection's notion of "the same quantity in the same context" (pure functions)."""

from __future__ import annotations

from retriever.language.en import quantities, quantity_context


def _context(text: str) -> frozenset[str]:
    return quantity_context(text, quantities(text)[0])


def test_same_figure_in_the_same_context_shares_words():
    a = _context("plans that could add £42bn to the local economy")
    b = _context("adding an estimated value of £41.7bn to the regional economy")
    assert a & b  # "economy"


def test_same_currency_about_something_else_shares_nothing():
    a = _context("plans that could add £42bn to the local economy")
    b = _context("Yet, with UKRI's £38.6 billion over four years, alignment is promising.")
    assert not a & b


def test_counted_nouns_are_their_own_context():
    a = _context("could create around 44,000 high-skilled, well-paid jobs")
    b = _context("the potential for 40,000 new jobs")
    assert "job" in a & b
