"""AutoML search for image-classification CNNs: Optuna studies of Keras models.

TensorFlow is imported lazily: ``import automl`` stays cheap for the CLI readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl._config import SearchConfig
from automl._errors import AutoMLError, DataError, TrialFailure
from automl._params import ModelParams

if TYPE_CHECKING:
    from automl._study import SearchResult, run_search

__all__ = [
    "AutoMLError",
    "DataError",
    "ModelParams",
    "SearchConfig",
    "SearchResult",
    "TrialFailure",
    "run_search",
]


def __getattr__(name: str) -> Any:
    if name in ("run_search", "SearchResult"):
        from automl import _study

        return getattr(_study, name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
