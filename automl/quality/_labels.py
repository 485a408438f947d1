"""Likely label errors: each image's class probabilities from a model that never trained on
it, ranked by cleanlab (confident learning: an image is an issue when a model confidently
puts it in another class more often than the per-class thresholds allow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelIssue:
    row: int
    label: int
    suggested: int
    #: 1 - cleanlab's self-confidence label quality: near 1, the label is very likely wrong.
    score: float


def rank_label_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[LabelIssue]:
    """The rows cleanlab finds mislabeled, most likely first."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    ranked = find_label_issues(
        labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1
    )
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    return [
        LabelIssue(
            int(row), int(labels[row]), int(probabilities[row].argmax()), 1.0 - float(quality[row])
        )
        for row in ranked
    ]


__all__ = ["LabelIssue", "rank_label_issues"]
