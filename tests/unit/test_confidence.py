"""95% or more only with strong evidence: the cap, the neighbour votes and the grouped folds."""

import numpy as np

from improvement.classification import (
    MAX_UNSUPPORTED_CONFIDENCE,
    cap_confidence,
    grouped_folds,
    neighbour_sentence,
    neighbour_votes,
    strong_evidence,
    version_sentence,
)


def test_without_strong_evidence_confidence_stops_below_95() -> None:
    probs = np.array([[0.99, 0.006, 0.004], [0.99, 0.006, 0.004], [0.5, 0.3, 0.2]])
    votes = np.array([[7, 0, 0], [5, 2, 0], [1, 6, 0]], dtype=float)
    capped = cap_confidence(probs, strong_evidence(probs, votes))
    assert capped[0, 0] == 0.99  # every close example agrees: the model may say so
    assert capped[1, 0] == MAX_UNSUPPORTED_CONFIDENCE < 0.95
    assert np.allclose(capped.sum(axis=1), 1) and capped[1, 1] > capped[1, 2]  # the rest keeps its order
    assert np.array_equal(capped[2], probs[2])  # below the cap nothing changes


def test_neighbour_votes_count_the_closest_examples() -> None:
    sims = np.array([[0.9, 0.8, 0.1, 0.7]])
    labels = np.array([2, 2, 0, 1])
    assert neighbour_votes(sims, labels, k=3).tolist() == [[0, 1, 2]]


def test_folds_hold_out_whole_industries() -> None:
    y = np.array([0, 1, 2] * 20)
    groups = [f"industry-{i % 10}" for i in range(60)]
    for train, test in grouped_folds(y, groups):
        assert not {groups[i] for i in train} & {groups[i] for i in test}


def test_the_rationale_calls_disagreeing_examples_split_instead_of_setting_a_count_against_the_percentage() -> None:
    from improvement.domain import Kind

    # The sentence a CX agent read as a contradiction: "94% sure ... 3 of the 7 closest examples are kaizen".
    text = neighbour_sentence(Kind.KAIZEN, MAX_UNSUPPORTED_CONFIDENCE, np.array([3.0, 4.0, 0.0]))
    assert "split: 3 kaizen, 4 kaikaku" in text
    assert "second opinion" in text and "never says more than 94% unless they all agree" in text
    assert "3 of the 7" not in text and "Not stated" not in text
    # A majority below the cap: no cap sentence, no second-opinion caveat.
    text = neighbour_sentence(Kind.KAIKAKU, 0.8, np.array([1.0, 5.0, 1.0]))
    assert text == "The 7 most similar example problems it learned from mostly agree: 5 kaikaku, 1 kaizen, 1 kakushin."
    assert neighbour_sentence(Kind.KAKUSHIN, 0.97, np.array([0.0, 0.0, 7.0])) == (
        "All 7 most similar example problems it learned from are kakushin too."
    )


def test_the_rationale_names_the_classifier_in_plain_words() -> None:
    assert version_sentence("shipped") == "Classifier: the one that came with the product."
    assert version_sentence("v3") == "Classifier: version v3, retrained on your team's decisions."
