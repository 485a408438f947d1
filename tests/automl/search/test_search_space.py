from __future__ import annotations

import optuna
import pytest

from automl.search import (
    ModelParams,
    build_model,
    max_blocks,
    one_block_default,
    portfolio,
    strong_default,
    suggest_params,
)


@pytest.mark.parametrize(("shape", "blocks"), [((8, 8, 1), 3), ((28, 28, 1), 4), ((32, 32, 3), 4)])
def test_block_count_fits_the_image(shape, blocks) -> None:
    assert max_blocks(shape) == blocks


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_every_sampled_model_builds(shape) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        params = suggest_params(trial, shape)
        assert params.n_blocks == len(params.filters)
        model = build_model(params, shape, 10)
        assert model.output_shape == (None, 10)
        assert ModelParams.from_dict(params.to_dict()) == params
        study.tell(trial, 0.5)


def test_strong_default_is_inside_the_space() -> None:
    study = optuna.create_study()
    study.enqueue_trial(strong_default((28, 28, 1)))
    trial = study.ask()
    params = suggest_params(trial, (28, 28, 1))
    assert params.filters == (32, 64, 128) and params.optimizer == "adam"
    assert trial.params == strong_default((28, 28, 1))


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_the_portfolio_is_inside_the_space_small_data_start_deeper_large_with_one_block(
    shape,
) -> None:
    large, small = portfolio(shape, 54_000), portfolio(shape, 3_600)
    assert portfolio(shape) == large and small[1] == strong_default(shape)
    assert small[0]["head"] == "gap" and small[0]["convs_per_block"] == 2
    if shape[0] <= 32:  # small images: the one-block net first, the strong default after it
        assert large[0] == one_block_default(shape) and large[1:] == small[1:]
    else:  # larger ones: its flattened maps would make its dense head too large
        assert large == small[1:]
    study = optuna.create_study()
    for params in small + large[:1]:
        study.enqueue_trial(params)
        trial = study.ask()
        model = build_model(suggest_params(trial, shape), shape, 10)
        assert model.output_shape == (None, 10)
        assert trial.params == params
        study.tell(trial, 0.5)
    assert model.count_params() <= 2_000_000  # the large data sets' first: the default cap
