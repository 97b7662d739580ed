"""eval/train_answer/support.py: what the candidate leaves out of the question."""

from __future__ import annotations

from eval.train_answer.support import SUPPORT, answer_support


def test_answer_support_measures_what_the_candidate_leaves_out():
    idf = {"norman": 3.0, "conquer": 2.0, "england": 1.0, "franc": 1.5}.get
    unseen = 5.0

    def support(question, sentence, context=()):
        return answer_support(question, frozenset(sentence), frozenset(context),
                              lambda t: idf(t) or unseen, unseen)

    full = support(["norman", "conquer", "england"], {"norman", "conquer", "england", "1066"})
    assert full == {**dict.fromkeys(SUPPORT, 0.0), "matched_evidence": 6.0 / unseen}
    # The question names France; the sentence speaks of England.
    swapped = support(["norman", "conquer", "franc"], {"norman", "conquer", "england"})
    assert swapped["uncovered_rarest"] == 1.5 / 3.0
    assert swapped["uncovered_share"] == swapped["sentence_uncovered_share"] == 1.5 / 6.5
    # A term the context holds is read, though the sentence lacks it.
    in_context = support(["norman", "conquer", "franc"], {"norman", "conquer"}, {"franc"})
    assert in_context["uncovered_share"] == 0.0
    assert in_context["sentence_uncovered_share"] == 1.5 / 6.5
    # A term no document holds is as rare as a term can be.
    unknown = support(["norman", "zyzzyva"], {"norman"})
    assert unknown["unknown_mass"] == unseen / (3.0 + unseen)
    assert unknown["uncovered_rarest"] == 1.0
    assert support([], {"norman"}) == dict.fromkeys(SUPPORT, 0.0)
