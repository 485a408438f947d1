from __future__ import annotations

import importlib.util

import optuna
import pytest

from automl import AutoMLError, SearchConfig
from automl.search import make_pruner, make_sampler, suggest_params


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "gp"])
def test_every_sampler_samples_the_conditional_space(name: str) -> None:
    config = SearchConfig(task="digits", sampler=name)
    if name == "gp" and importlib.util.find_spec("torch") is None:
        with pytest.raises(AutoMLError, match="needs PyTorch"):
            make_sampler(config)
        return
    study = optuna.create_study(direction="maximize", sampler=make_sampler(config))
    for i in range(7):
        trial = study.ask()
        params = suggest_params(trial, (8, 8, 1))
        study.tell(trial, 0.5 + 0.01 * i)
        assert len(params.filters) == params.n_blocks


def test_workers_get_distinct_seeds() -> None:
    config = SearchConfig(task="digits", sampler="random")
    draws = []
    for worker in (0, 1):
        study = optuna.create_study(sampler=make_sampler(config, worker))
        draws.append(suggest_params(study.ask(), (8, 8, 1)))
    assert draws[0] != draws[1]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("median", optuna.pruners.MedianPruner),
        ("sha", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_pruner_names(name: str, kind: type) -> None:
    assert isinstance(make_pruner(SearchConfig(task="digits", pruner=name)), kind)
