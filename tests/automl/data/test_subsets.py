"""Training-set fractions for screening: stratified, seeded, nested."""

from __future__ import annotations

import numpy as np
import pytest

from automl.data import nested_subsets


@pytest.fixture
def labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    # Unbalanced classes: 50 % class 0, the rest spread over 1..9.
    return np.concatenate([np.zeros(4000, int), rng.integers(1, 10, 4000)])


def test_each_fraction_keeps_every_class_share(labels: np.ndarray) -> None:
    fractions = [0.125, 0.25, 0.5, 1.0]
    subsets = nested_subsets(labels, fractions, seed=1)
    counts = np.bincount(labels)
    for fraction, subset in zip(fractions, subsets):
        assert abs(len(subset) - fraction * len(labels)) <= len(counts)
        sub_counts = np.bincount(labels[subset], minlength=len(counts))
        assert np.all(np.abs(sub_counts - fraction * counts) <= 1)
    assert np.array_equal(subsets[-1], np.arange(len(labels)))


def test_subsets_nest_and_depend_only_on_the_seed(labels: np.ndarray) -> None:
    small, medium, large = nested_subsets(labels, [0.125, 0.25, 0.5], seed=3)
    assert set(small) <= set(medium) <= set(large)
    assert len(set(large)) == len(large)  # no duplicates
    again = nested_subsets(labels, [0.125, 0.25, 0.5], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, [small, medium, large]))
    other = nested_subsets(labels, [0.125], seed=4)[0]
    assert not np.array_equal(other, small)


def test_a_rare_class_keeps_at_least_one_image() -> None:
    labels = np.array([0] * 1000 + [1])
    (subset,) = nested_subsets(labels, [0.01], seed=0)
    assert 1 in labels[subset]


@pytest.mark.parametrize("fractions", [[], [0.0], [1.5], [0.5, 0.25]])
def test_bad_fractions_are_refused(fractions: list[float]) -> None:
    with pytest.raises(ValueError):
        nested_subsets(np.array([0, 1, 0, 1]), fractions, seed=0)
