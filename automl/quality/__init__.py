"""Data quality (``automl inspect``): duplicates and leakage, label errors, odd images, counts."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr

if TYPE_CHECKING:
    from automl.quality._duplicates import NEAR_BITS, NEAR_PIXELS, find_duplicates
    from automl.quality._inspect import (
        DEFAULT_FOLDS,
        DEFAULT_TIMEOUT_S,
        REPORT_VERSION,
        Inspection,
        inspect_data,
    )
    from automl.quality._labels import LabelIssue, rank_label_issues
    from automl.quality._study import (
        RELABEL_SCORE,
        InspectRequest,
        describe,
        run_inspection,
        suggested_overrides,
    )
    from automl.quality._view import InspectedData

__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_TIMEOUT_S",
    "NEAR_BITS",
    "NEAR_PIXELS",
    "RELABEL_SCORE",
    "REPORT_VERSION",
    "InspectRequest",
    "InspectedData",
    "Inspection",
    "LabelIssue",
    "describe",
    "find_duplicates",
    "inspect_data",
    "rank_label_issues",
    "run_inspection",
    "suggested_overrides",
]

# The search's modules (and through them TensorFlow) load on first use.
__getattr__ = lazy_getattr(
    __name__,
    {
        "automl.quality._duplicates": ("NEAR_BITS", "NEAR_PIXELS", "find_duplicates"),
        "automl.quality._inspect": (
            "DEFAULT_FOLDS",
            "DEFAULT_TIMEOUT_S",
            "REPORT_VERSION",
            "Inspection",
            "inspect_data",
        ),
        "automl.quality._labels": ("LabelIssue", "rank_label_issues"),
        "automl.quality._study": (
            "RELABEL_SCORE",
            "InspectRequest",
            "describe",
            "run_inspection",
            "suggested_overrides",
        ),
        "automl.quality._view": ("InspectedData",),
    },
)
