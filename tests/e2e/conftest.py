from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


@pytest.fixture
def cli():
    return run_cli
