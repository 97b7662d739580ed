"""The synthetic unanswerable pairs of the answer model's training data."""

import random

from eval.train_answer.augment import Term, swap_pool, swapped_question, terms


def test_terms_are_capitalised_runs_and_numbers() -> None:
    found = terms("When did Marie Curie move to Paris in 1891?", skip_first=True)
    assert found == [Term("name", "Marie Curie"), Term("name", "Paris"), Term("number", "1891")]


def test_the_first_word_of_a_question_is_not_a_name() -> None:
    assert terms("Which river flows through town?", skip_first=True) == []


def test_a_swap_replaces_a_term_the_sentence_holds_with_one_it_does_not() -> None:
    sentence = "Marie Curie moved to Paris in 1891 to study physics."
    others = ["Pierre lived in Warsaw before 1895.", "Marie Curie moved to Paris in 1891."]
    for seed in range(20):
        changed = swapped_question("When did Marie Curie move to Paris?", sentence, "Biography",
                                   others, random.Random(seed))
        assert changed is not None and changed != "When did Marie Curie move to Paris?"
        swapped_in = {t.text for t in terms(changed, skip_first=True)}
        assert swapped_in - {"Marie Curie", "Paris"}  # something new came in
        assert all(t not in sentence for t in swapped_in - {"Marie Curie", "Paris"})


def test_no_swap_without_a_shared_term_or_a_replacement() -> None:
    rng = random.Random(0)
    assert swapped_question("What is the capital?", "Paris is the capital.", "", ["Rome."],
                            rng) is None
    # Paris is in the sentence, but the only other name is in the context too.
    assert swapped_question("Why did Paris grow?", "Paris grew fast.", "Rome and Paris",
                            ["Rome grew."], rng) is None


def test_the_pool_leaves_out_the_answering_sentence() -> None:
    assert swap_pool(["a", "b", "a"], "a") == ["b"]
