from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

AUTOML = [sys.executable, "-m", "automl.cli"]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("AUTOML_STORAGE", None)
    env.pop("AUTOML_DATA_DIR", None)
    return subprocess.run(
        [*AUTOML, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def wait_until(
    condition: Callable[[], Any],
    what: str,
    timeout: float = 180,
    detail: Callable[[], str] | None = None,
) -> Any:
    """Poll ``condition`` (an exception counts as "not yet": the study may not exist yet)
    until it returns something truthy, and return that; on a timeout the failure shows
    ``detail()`` (a log's tail, say)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s" + (f"\n{detail()}" if detail else ""))


@pytest.fixture
def cli():
    return run_cli


def assert_loads_and_predicts(model_file: Path, input_shape=(8, 8, 1), classes: int = 10) -> None:
    """The file is a working model, not just the right bytes: Keras loads it on its own and it
    answers a batch with one probability row per image."""
    import keras
    import numpy as np

    model = keras.models.load_model(model_file)
    batch = np.random.default_rng(0).random((3, *input_shape), dtype=np.float32)
    probabilities = np.asarray(model.predict(batch, verbose=0))
    assert probabilities.shape == (3, classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
