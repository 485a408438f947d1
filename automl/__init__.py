"""AutoML search for image-classification CNNs: Optuna studies of Keras models.

The stages, each a package, in the order data flows: ``automl.data`` (images in),
``automl.search`` (the study), ``automl.release`` (evaluate, promote, export, predict); all of
them write to and read from ``storage``. TensorFlow is imported lazily: ``import automl``
stays cheap for the CLI readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl._errors import AutoMLError, DataError, TrialFailure
from automl._lazy import lazy_getattr
from automl.search import ModelParams, SearchConfig

if TYPE_CHECKING:
    from automl._run import run_search
    from automl.release import (
        FORMATS,
        ExportResult,
        cross_validate,
        evaluate_trial,
        export_model,
        predict_images,
        promote_trial,
    )
    from automl.search import SearchResult

__all__ = [
    "FORMATS",
    "AutoMLError",
    "DataError",
    "ExportResult",
    "ModelParams",
    "SearchConfig",
    "SearchResult",
    "TrialFailure",
    "cross_validate",
    "evaluate_trial",
    "export_model",
    "predict_images",
    "promote_trial",
    "run_search",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "automl._run": ("run_search",),
        "automl.search": ("SearchResult",),
        "automl.release": (
            "FORMATS",
            "ExportResult",
            "cross_validate",
            "evaluate_trial",
            "export_model",
            "predict_images",
            "promote_trial",
        ),
    },
)
