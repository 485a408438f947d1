"""A study's data is found again where its search recorded it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.data import get_task
from automl.release import load_study_data
from storage import TrialStore


def test_a_study_loads_its_data_from_the_folder_it_recorded(tmp_path: Path) -> None:
    raw = get_task("digits").load_builtin()
    np.savez(tmp_path / "digits.npz", x_train=raw.x_train[:300], y_train=raw.y_train[:300],
             x_test=raw.x_test, y_test=raw.y_test)  # fmt: skip
    store = TrialStore(f"sqlite:///{tmp_path / 'a.db'}")
    config = {"data_dir": str(tmp_path), "validation_fraction": 0.1, "seed": 1}
    study = store.ensure_study("local", "digits", 3, config)
    data = load_study_data(study, None)  # the recorded folder, a string in the store
    assert len(data.x_train) + len(data.x_val) == 300 and str(tmp_path) in data.source
