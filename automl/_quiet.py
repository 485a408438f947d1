"""Keep the terminal for the user: TensorFlow and Optuna chatter is hidden unless --verbose."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silenced_native_stderr() -> Iterator[None]:
    """Drop what C++ code writes straight to fd 2 (TensorFlow start-up, TFLite delegates).

    Python exceptions still raise as usual; only those native lines are lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_logs(verbose: bool = False, *, start_tensorflow: bool = True) -> None:
    """Hide TensorFlow's and Optuna's chatter; ``start_tensorflow`` imports TensorFlow now,
    with its start-up lines hidden."""
    import optuna

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if verbose else "3")
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # its INFO lines on each conversion
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    # Failures are reported in one line each and kept in the store, not as Optuna tracebacks.
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    if start_tensorflow and not verbose and "tensorflow" not in sys.modules:
        # TensorFlow 2.21 prints its start-up lines from C++ whatever the log level.
        with silenced_native_stderr():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401


#: "0" hides the search's progress bar (helper workers, whose output goes to a log file).
PROGRESS_BAR_VARIABLE = "AUTOML_PROGRESS_BAR"


def progress_bar_wanted(verbose: bool) -> bool:
    return not verbose and os.environ.get(PROGRESS_BAR_VARIABLE) != "0"
