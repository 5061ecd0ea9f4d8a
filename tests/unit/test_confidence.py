"""95% or more only with strong evidence: the cap, the neighbour votes and the grouped folds."""

import numpy as np

from improvement.classification import (
    MAX_UNSUPPORTED_CONFIDENCE,
    cap_confidence,
    grouped_folds,
    neighbour_votes,
    strong_evidence,
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
