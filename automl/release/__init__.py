"""Release: evaluate on the test split, promote a champion, export verified files, predict."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr

if TYPE_CHECKING:
    from automl.release._card import card_paths
    from automl.release._champion import promote_trial, resolve_trial
    from automl.release._evaluate import (
        OutOfFold,
        cross_validate,
        evaluate_trial,
        load_study_data,
        out_of_fold,
    )
    from automl.release._explain import Explanation, explain, explain_trial, overlay
    from automl.release._export import (
        FORMATS,
        RUNTIME_THREADS_ENV,
        SUFFIXES,
        ExportResult,
        Runtime,
        detect_format,
        export_model,
        load_runtime,
        path_sha256,
        predict_with,
    )
    from automl.release._predict import (
        Prediction,
        input_spec,
        load_image,
        predict_images,
        predict_study_images,
    )

__all__ = [
    "FORMATS",
    "RUNTIME_THREADS_ENV",
    "SUFFIXES",
    "Explanation",
    "ExportResult",
    "OutOfFold",
    "Prediction",
    "Runtime",
    "card_paths",
    "cross_validate",
    "detect_format",
    "evaluate_trial",
    "explain",
    "explain_trial",
    "export_model",
    "input_spec",
    "load_image",
    "load_runtime",
    "load_study_data",
    "out_of_fold",
    "overlay",
    "path_sha256",
    "predict_images",
    "predict_study_images",
    "predict_with",
    "promote_trial",
    "resolve_trial",
]

# NumPy, Keras and the converters load on first use.
__getattr__ = lazy_getattr(
    __name__,
    {
        "automl.release._card": ("card_paths",),
        "automl.release._champion": ("promote_trial", "resolve_trial"),
        "automl.release._evaluate": (
            "OutOfFold",
            "cross_validate",
            "evaluate_trial",
            "load_study_data",
            "out_of_fold",
        ),
        "automl.release._explain": ("Explanation", "explain", "explain_trial", "overlay"),
        "automl.release._export": (
            "FORMATS",
            "RUNTIME_THREADS_ENV",
            "SUFFIXES",
            "ExportResult",
            "Runtime",
            "detect_format",
            "export_model",
            "load_runtime",
            "path_sha256",
            "predict_with",
        ),
        "automl.release._predict": (
            "Prediction",
            "input_spec",
            "load_image",
            "predict_images",
            "predict_study_images",
        ),
    },
)
