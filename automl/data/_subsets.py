"""Training-set fractions for multi-fidelity search: stratified, seeded and nested.

Nested means each larger fraction contains every image of the smaller ones, so a candidate
promoted to the next rung keeps training on what it saw plus new images, never on a reshuffle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def nested_subsets(y: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Sorted index arrays into ``y``, one per fraction (each in (0, 1], ascending).

    Every class keeps its share (at least one image), so a 1/8 subset still has all classes.
    """
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {list(fractions)}")
    if list(fractions) != sorted(fractions):
        raise ValueError(f"fractions must ascend, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    # One fixed order per class; a fraction takes a prefix of each, so subsets nest.
    orders = [rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)]
    subsets = []
    for fraction in fractions:
        parts = [order[: max(1, round(fraction * len(order)))] for order in orders]
        subsets.append(np.sort(np.concatenate(parts)))
    return subsets
