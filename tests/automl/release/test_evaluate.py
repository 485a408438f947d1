"""A study's data is found again where its search recorded it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.slow
def test_out_of_fold_trains_a_pretrained_head_on_features_computed_once(monkeypatch) -> None:
    """Each fold's model never saw the images it predicts; a head on a backbone trains on the
    backbone's features (computed once), so five folds on digits take seconds, not epochs of
    the backbone."""
    from automl.release import _evaluate, out_of_fold
    from automl.search import ModelParams

    calls = []
    real = _evaluate._backbone_features
    monkeypatch.setattr(
        _evaluate, "_backbone_features", lambda *args: calls.append(1) or real(*args)
    )
    data = get_task("digits").load()
    head = {"dropout": 0.2, "dense_units": 0, "head_dropout": 0.0, "optimizer": "adam",
            "learning_rate": 1e-3, "weight_decay": 0.0, "batch_size": 64}  # fmt: skip
    params = ModelParams.head_on("efficientnet_lite0", 32, **head)
    lines: list[str] = []
    result = out_of_fold(data, params, 5, 3, 0, log=lines.append)
    assert calls == [1] and len(lines) == 3 and result.epochs == [5, 5, 5]
    n = len(data.y_train) + len(data.y_val)
    assert result.probabilities.shape == (n, 10)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert min(result.scores) > 0.5  # ImageNet features tell digits apart
