"""Trial outcomes through the real Objective: pruned, NaN, over the parameter cap, memory."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl import SearchConfig
from automl._errors import TrialFailure
from automl.data import get_task
from automl.search import ArtifactKeeper, Objective, make_pruner, strong_default
from storage import TrialState, TrialStore


class PruneAtEpoch(optuna.pruners.BasePruner):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.epoch


@pytest.fixture(scope="module")
def digits():
    return get_task("digits").load(None, 0.1, seed=0)


def _objective(tmp_path: Path, digits, **overrides) -> tuple[Objective, TrialStore, SearchConfig]:
    config = SearchConfig(
        task="digits",
        study_name="t",
        epochs=overrides.pop("epochs", 3),
        storage_url=f"sqlite:///{tmp_path / 'a.db'}",
        **overrides,
    )
    store = TrialStore(config.storage_url)
    store.ensure_study("t", "digits", 1, {})
    keeper = ArtifactKeeper(store, "t", config.artifacts_dir, config.keep_best)
    return Objective(config, digits, store, keeper, deadline=None), store, config


def test_pruned_trial_stops_at_its_epoch(tmp_path: Path, digits) -> None:
    objective, store, _ = _objective(tmp_path, digits, epochs=5)
    study = optuna.create_study(direction="maximize", pruner=PruneAtEpoch(2))
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    trial = store.trial("t", 0)
    assert trial.state is TrialState.PRUNED and trial.pruned_at_epoch == 2
    assert trial.epochs_run == 2 and [e.epoch for e in store.epochs("t")] == [1, 2]
    assert "after epoch 2" in trial.reason
    assert store.artifacts("t") == []  # pruned trials keep no model


def test_hyperband_prunes_the_weak_and_keeps_the_strong() -> None:
    """A deterministic objective: trial i's curve is i-dependent, the best ones must survive."""
    config = SearchConfig(task="digits", epochs=9)
    study = optuna.create_study(
        direction="maximize",
        pruner=make_pruner(config),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def objective(trial: optuna.Trial) -> float:
        quality = trial.suggest_float("quality", 0.0, 1.0)
        for epoch in range(1, 10):
            trial.report(quality * epoch / 9, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return quality

    study.optimize(objective, n_trials=30)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) >= 5
    best_quality = max(t.params["quality"] for t in study.trials)
    assert study.best_trial.params["quality"] == best_quality


def test_nan_loss_fails_the_trial_not_the_study(tmp_path: Path, digits) -> None:
    objective, store, _ = _objective(tmp_path, digits, epochs=2)
    study = optuna.create_study(direction="maximize")
    exploding = strong_default((8, 8, 1)) | {
        "optimizer": "sgd",
        "learning_rate": 1e12,
        "batch_norm": False,
    }
    study.enqueue_trial(exploding)
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=2, catch=(TrialFailure,))
    first, second = store.trials("t")
    assert first.state is TrialState.FAIL and "NaN" in first.reason
    assert second.state is TrialState.COMPLETE and second.value > 0.1
    assert [t.state for t in study.trials] == [
        optuna.trial.TrialState.FAIL,
        optuna.trial.TrialState.COMPLETE,
    ]


def test_oversized_candidate_is_pruned_before_training(tmp_path: Path, digits) -> None:
    objective, store, _ = _objective(tmp_path, digits, max_params=10_000)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"dense_units": 256})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.PRUNED and "exceed the cap of 10,000" in trial.reason
    assert trial.param_count > 10_000 and trial.epochs_run == 0


def test_best_k_models_are_kept_with_their_hashes(tmp_path: Path, digits) -> None:
    objective, store, config = _objective(tmp_path, digits, epochs=2, keep_best=2)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=4, catch=(TrialFailure,))
    completed = sorted(
        (t for t in store.trials("t") if t.state is TrialState.COMPLETE),
        key=lambda t: (-t.value, t.number),
    )
    artifacts = store.artifacts("t")
    assert {a.trial_number for a in artifacts} == {t.number for t in completed[:2]}
    on_disk = sorted(p.name for p in (config.artifacts_dir / "t").iterdir())
    assert on_disk == sorted(Path(a.path).name for a in artifacts)
    from automl.search import sha256_of

    for artifact in artifacts:
        assert sha256_of(Path(artifact.path)) == artifact.sha256
        assert Path(artifact.path).stat().st_size == artifact.size_bytes


def test_budget_cosine_decays_over_the_epochs_that_fit(monkeypatch) -> None:
    from automl.search import BudgetCosine, _callbacks

    plain = BudgetCosine(1.0, epochs=5)
    rates = [plain(e) for e in range(5)]
    assert rates[0] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.05)
    assert rates == sorted(rates, reverse=True)

    clock = {"now": 1000.0}
    monkeypatch.setattr(_callbacks.time, "time", lambda: clock["now"])
    # 10 epochs planned, but epochs take 10 s and only ~30 s remain after the first.
    squeezed = BudgetCosine(1.0, epochs=10, deadline=1040.0)
    assert squeezed(0) == pytest.approx(1.0)
    clock["now"] = 1010.0
    squeezed(1)
    assert squeezed.planned == 4  # epochs 0..3 fit before the deadline
    clock["now"] = 1030.0
    assert squeezed(3) == pytest.approx(0.05)  # fully decayed on the last epoch that fits


def test_deadline_stops_a_trial_inside_an_epoch(tmp_path: Path, digits) -> None:
    import time

    objective, store, _ = _objective(tmp_path, digits, epochs=500, patience=500)
    objective.deadline = time.time() + 3.0
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"batch_size": 64})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.COMPLETE and "time limit" in trial.reason
    assert 1 <= trial.epochs_run < 500 and trial.value is not None
    assert store.artifacts("t")  # a clock-stopped trial still keeps its best model
