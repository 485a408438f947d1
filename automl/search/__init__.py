"""Search: the space, model builder, callbacks, trial objective, budget, workers, the study."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr
from automl.search._artifact_store import (
    ArtifactStore,
    FileSystemStore,
    ModelChanged,
    ModelMissing,
    S3Store,
    model_cache_dir,
    open_artifact_store,
    sha256_of,
)
from automl.search._artifacts import ArtifactKeeper, verified_artifact
from automl.search._config import (
    PRUNERS,
    SAMPLERS,
    SearchConfig,
    default_data_dir,
    open_study_task,
    study_artifact_store,
    study_cache_dir,
    study_data_dir,
)
from automl.search._params import ModelParams

if TYPE_CHECKING:
    from automl.search._callbacks import BudgetCosine, TrialReporter
    from automl.search._doctor import Finding, diagnose, repair
    from automl.search._model_builder import build_head, build_model, compile_model
    from automl.search._optuna import make_pruner, make_sampler, open_optuna_storage
    from automl.search._search_space import (
        ACTIVATIONS,
        SEARCH_SPACE_VERSION,
        max_blocks,
        one_block_default,
        portfolio,
        small_data_default,
        strong_default,
        suggest_params,
    )
    from automl.search._study import SearchResult, run_study
    from automl.search._training import Objective

__all__ = [
    "ACTIVATIONS",
    "PRUNERS",
    "SAMPLERS",
    "SEARCH_SPACE_VERSION",
    "ArtifactKeeper",
    "ArtifactStore",
    "BudgetCosine",
    "FileSystemStore",
    "Finding",
    "ModelChanged",
    "ModelMissing",
    "ModelParams",
    "Objective",
    "S3Store",
    "SearchConfig",
    "SearchResult",
    "TrialReporter",
    "build_head",
    "build_model",
    "compile_model",
    "default_data_dir",
    "diagnose",
    "make_pruner",
    "make_sampler",
    "max_blocks",
    "model_cache_dir",
    "one_block_default",
    "open_artifact_store",
    "open_optuna_storage",
    "open_study_task",
    "portfolio",
    "repair",
    "run_study",
    "sha256_of",
    "small_data_default",
    "strong_default",
    "study_artifact_store",
    "study_cache_dir",
    "study_data_dir",
    "suggest_params",
    "verified_artifact",
]

# Optuna, Keras and TensorFlow load on first use.
__getattr__ = lazy_getattr(
    __name__,
    {
        "automl.search._callbacks": ("BudgetCosine", "TrialReporter"),
        "automl.search._doctor": ("Finding", "diagnose", "repair"),
        "automl.search._model_builder": ("build_head", "build_model", "compile_model"),
        "automl.search._optuna": ("make_pruner", "make_sampler", "open_optuna_storage"),
        "automl.search._search_space": (
            "ACTIVATIONS",
            "SEARCH_SPACE_VERSION",
            "max_blocks",
            "one_block_default",
            "portfolio",
            "small_data_default",
            "strong_default",
            "suggest_params",
        ),
        "automl.search._study": ("SearchResult", "run_study"),
        "automl.search._training": ("Objective",),
    },
)
