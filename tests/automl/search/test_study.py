from __future__ import annotations

import importlib.util
import time

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


@pytest.mark.slow
def test_a_timed_search_screens_then_trains_the_winner(tmp_path) -> None:
    """Both phases end to end on digits, in worker processes, then a warm start from it."""
    from automl import run_search
    from automl.search._warm_start import warm_start_params
    from storage import TrialStore

    url = f"sqlite:///{tmp_path / 'automl.db'}"
    # Three quick trials end screening early, and the final stops early: the budget is
    # only a ceiling, generous because busy hosts took 29 s to finish no rung, and (session
    # 20, beside another test's training) 22 s to start the workers and 21 s for no rung.
    config = SearchConfig(
        task="digits", study_name="timed", trials=3, epochs=3, timeout_s=150, storage_url=url
    )
    lines: list[str] = []
    result = run_search(config, log=lines.append)

    store = TrialStore(url)
    trials = store.trials("timed")
    phases = [t.phase for t in trials]  # up to 3 candidates in the 75 s of screening
    assert phases[-1] == "final" and set(phases[:-1]) == {"screening"}
    # digits' portfolio holds 4 configurations: the one --trials 3 left queued is closed, not
    # trained, and --trials (reached) does not keep the final from running.
    unscreened = [t for t in trials if t.reason and t.reason.startswith("not screened")]
    assert len(phases) - len(unscreened) <= 4 and all(t.epochs_run == 0 for t in unscreened)
    final = trials[-1]
    study = optuna.load_study(study_name="timed", storage=url)
    winner = study.trials[-1].user_attrs["screened_as"]
    assert final.params == store.trial("timed", winner).params
    assert final.state.value == "COMPLETE" and final.data_fraction == 1.0
    assert final.images_seen == final.epochs_run * 1293  # digits' training split
    (final_line,) = [line for line in lines if line.startswith("final phase: trial")]
    if "at most" in final_line:  # all 3 screened within the screening share (not on a busy host)
        assert final.epochs_run == max(3, store.trial("timed", winner).epochs_run)
    screened = [t for t in trials if t.phase == "screening" and t.epochs_run]
    assert screened and all(t.images_seen > 0 and t.data_fraction for t in screened)
    # Small data, but 25 % of 150 s would leave screening too little: the usual half.
    assert "budget: 150 s, 50% of it for the final run" in lines
    assert result.test_accuracy is not None

    again = SearchConfig(task="digits", study_name="next", warm_start="timed", storage_url=url)
    first = warm_start_params(again, again.open_task())
    assert 1 <= len(first) <= 3 and first[0] == study.trials[-1].params  # the final's config


@pytest.mark.slow
def test_a_budget_too_short_to_screen_still_trains_the_first_known_good_config(
    tmp_path, monkeypatch
) -> None:
    from automl import run_search
    from automl._workers import BUDGET_START_VARIABLE
    from automl.search import portfolio
    from storage import TrialStore

    # The budget's clock started 30 s ago (as a --workers helper's does): screening is over
    # before any candidate starts, 30 s are left for the final.
    monkeypatch.setenv(BUDGET_START_VARIABLE, str(time.time() - 30))
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    config = SearchConfig(
        task="digits", study_name="short", timeout_s=60, final_share=0.5, storage_url=url
    )
    lines: list[str] = []
    result = run_search(config, log=lines.append)

    trials = TrialStore(url).trials("short")
    final = trials[-1]
    assert final.phase == "final" and final.state.value == "COMPLETE" and final.epochs_run >= 1
    assert all(t.reason.startswith("not screened") for t in trials[:-1])
    expected = portfolio((8, 8, 1), 1293, config.backbones)[0]  # a head on the backbone
    assert {name: final.params[name] for name in expected} == expected
    assert any("the first known-good one, unscreened" in line for line in lines)
    assert result.model_path is not None and result.test_accuracy is not None
