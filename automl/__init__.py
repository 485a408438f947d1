"""AutoML search for image-classification CNNs: Optuna studies of Keras models.

TensorFlow is imported lazily: ``import automl`` stays cheap for the CLI readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl._config import SearchConfig
from automl._errors import AutoMLError, DataError, TrialFailure
from automl._params import ModelParams

if TYPE_CHECKING:
    from automl._champion import promote_trial
    from automl._evaluate import cross_validate, evaluate_trial
    from automl._export import FORMATS, ExportResult, export_model
    from automl._predict import predict_images
    from automl._study import SearchResult, run_search

_LAZY = {
    "run_search": "automl._study",
    "SearchResult": "automl._study",
    "evaluate_trial": "automl._evaluate",
    "cross_validate": "automl._evaluate",
    "promote_trial": "automl._champion",
    "export_model": "automl._export",
    "ExportResult": "automl._export",
    "FORMATS": "automl._export",
    "predict_images": "automl._predict",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
