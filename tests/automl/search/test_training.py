"""Trial outcomes through the real Objective: pruned, NaN, over the parameter cap, memory."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import optuna
import pytest
from sqlalchemy import event

from automl import SearchConfig
from automl._errors import TrialFailure
from automl.data import get_task
from automl.search import (
    ArtifactKeeper,
    Objective,
    make_pruner,
    open_artifact_store,
    sha256_of,
    strong_default,
    verified_artifact,
)
from storage import TrialState, TrialStore


class PruneAtEpoch(optuna.pruners.BasePruner):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.epoch


@pytest.fixture(scope="module")
def digits():
    return get_task("digits").load(None, 0.1, seed=0)


def _objective(
    tmp_path: Path, digits, plan=None, **overrides
) -> tuple[Objective, TrialStore, SearchConfig]:
    config = SearchConfig(
        task="digits",
        study_name="t",
        epochs=overrides.pop("epochs", 3),
        backbones=overrides.pop("backbones", ("scratch",)),
        storage_url=f"sqlite:///{tmp_path / 'a.db'}",
        **overrides,
    )
    store = TrialStore(config.storage_url)
    store.ensure_study("t", "digits", 1, {})
    artifacts = open_artifact_store(config.artifacts)  # type: ignore[arg-type]
    keeper = ArtifactKeeper(store, "t", artifacts, config.keep_best)
    return Objective(config, digits, store, keeper, plan=plan), store, config


@pytest.mark.slow
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


@pytest.mark.slow
# A learning rate of 1e12 lies outside the space on purpose: it makes the loss NaN.
@pytest.mark.filterwarnings("ignore:Fixed parameter learning_rate:UserWarning")
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


@pytest.mark.slow
def test_a_database_lost_mid_trial_fails_it_and_queues_it_again(tmp_path: Path, digits) -> None:
    """Optuna's storage re-raises a lost connection as StorageInternalError: the trial fails
    saying so, and its configuration runs once more, as for a lost machine (a CI failure)."""
    objective, store, config = _objective(tmp_path, digits, epochs=2)
    storage = optuna.storages.RDBStorage(config.storage_url)
    faults = [sqlite3.OperationalError("server closed the connection unexpectedly")]

    @event.listens_for(storage.engine, "before_cursor_execute")
    def fail_once(conn, cursor, statement: str, *args) -> None:
        if "INSERT INTO trial_intermediate_values" in statement and faults:
            raise faults.pop()

    study = optuna.create_study(study_name="t", storage=storage, direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=2, catch=(TrialFailure,))
    first, second = store.trials("t")
    assert first.state is TrialState.FAIL
    assert first.reason == "database connection lost (server closed the connection unexpectedly)"
    assert second.state is TrialState.COMPLETE and second.params == first.params
    assert study.trials[1].system_attrs["failed_trial"] == 0


@pytest.mark.slow
def test_a_model_that_cannot_be_saved_fails_its_trial_with_the_reason(
    tmp_path: Path, digits
) -> None:
    """Disk full, no permission, a file where the folder should be: the trial fails, saying
    why, and the search goes on (as root a read-only folder is still writable: a file it is)."""
    blocked = tmp_path / "artifacts"
    blocked.write_text("not a folder")
    objective, store, _ = _objective(tmp_path, digits, epochs=1, artifacts=str(blocked))
    study = optuna.create_study(direction="maximize")
    # Both the default: a sampled second could fail for another reason (a NaN loss).
    for _ in range(2):
        study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=2, catch=(TrialFailure,))
    trials = store.trials("t")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all("Error" in t.reason and "artifacts" in t.reason for t in trials), trials[0].reason
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert store.artifacts("t") == []


@pytest.mark.slow
def test_a_label_smoothed_trial_saves_a_model_that_loads_without_this_package(
    tmp_path: Path, digits
) -> None:
    """Smoothing is a training loss of this package's: the saved file names Keras' own loss,
    so that it loads anywhere (`keras.models.load_model` alone, as a user would)."""
    objective, store, _ = _objective(tmp_path, digits, epochs=2)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"label_smoothing": 0.1})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.COMPLETE and trial.params["label_smoothing"] == 0.1
    _, path = verified_artifact(store, "t", 0)
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_ALONE, str(path)], capture_output=True, text=True
    )
    assert loaded.returncode == 0 and loaded.stdout.split()[-1] == "10", loaded.stderr[-2000:]
    assert "Skipping variable loading" not in loaded.stderr  # its optimizer's state saved whole


LOAD_ALONE = """
import sys, keras
model = keras.models.load_model(sys.argv[1])
assert "automl" not in sys.modules
print(model.loss, model.output_shape[-1])
"""


def test_oversized_candidate_is_pruned_before_training(tmp_path: Path, digits) -> None:
    objective, store, _ = _objective(tmp_path, digits, max_params=10_000)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"dense_units": 256})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.PRUNED and "exceed the cap of 10,000" in trial.reason
    assert trial.param_count > 10_000 and trial.epochs_run == 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["folder", "s3"])
def test_best_k_models_are_kept_with_their_hashes(
    tmp_path: Path, digits, backend: str, request: pytest.FixtureRequest
) -> None:
    """Both artifact stores: only the best k models stay, each where its record says, and
    each one read back through the store matches its recorded sha256."""
    artifacts = None
    if backend == "s3":
        artifacts = request.getfixturevalue("s3_server").bucket() + "/team/automl"
    objective, store, config = _objective(
        tmp_path, digits, epochs=2, keep_best=2, artifacts=artifacts
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=4, catch=(TrialFailure,))
    completed = sorted(
        (t for t in store.trials("t") if t.state is TrialState.COMPLETE),
        key=lambda t: (-t.value, t.number),
    )
    artifacts = store.artifacts("t")
    assert {a.trial_number for a in artifacts} == {t.number for t in completed[:2]}
    held = open_artifact_store(config.artifacts)  # type: ignore[arg-type]
    assert [held.location(key) for key in held.keys("t/")] == [a.location for a in artifacts]
    if backend == "s3":
        assert artifacts[0].location.startswith("s3://models/team/automl/t/trial-")
    for artifact in artifacts:
        _, local = verified_artifact(store, "t", artifact.trial_number)
        assert sha256_of(local) == artifact.sha256
        assert local.stat().st_size == artifact.size_bytes


def _run_schedule(cosine, clock: dict, epoch_seconds: list[float]) -> list[float]:
    """Drives ``cosine`` through epochs of the given lengths on a fake clock, as ``fit`` calls
    it for ``cosine.epochs`` epochs; returns the learning rates it set, one per epoch run."""
    model = SimpleNamespace(optimizer=SimpleNamespace(learning_rate=None), stop_training=False)
    cosine.set_model(model)
    rates = []
    for epoch, seconds in zip(range(cosine.epochs), epoch_seconds):
        cosine.on_epoch_begin(epoch)
        rates.append(model.optimizer.learning_rate)
        clock["now"] += seconds
        cosine.on_epoch_end(epoch)
        if model.stop_training:
            break
    return rates


def _run_batches(cosine, clock: dict, first_epoch_s: float, deadline: float) -> list[float]:
    """Epochs of 10 batches and a 1-second validation (the first epoch slower: tracing), as
    ``fit`` calls the schedule's hooks, until it stops training; returns the rates set."""
    model = SimpleNamespace(optimizer=SimpleNamespace(learning_rate=None), stop_training=False)
    cosine.set_model(model)
    rates: list[float] = []
    for epoch in range(1000):
        cosine.on_epoch_begin(epoch)
        rates.append(model.optimizer.learning_rate)
        for batch in range(10):
            clock["now"] += (first_epoch_s if epoch == 0 else 10.0) / 10 - 0.1
            cosine.on_train_batch_end(batch)
            if model.stop_training:
                break
        cosine.on_test_begin()
        clock["now"] += 1.0
        cosine.on_test_end()
        cosine.on_epoch_end(epoch)
        if model.stop_training:
            return rates
    raise AssertionError("never stopped")


@pytest.mark.parametrize(("left", "partial"), [(6.0, True), (2.0, False)])
def test_budget_cosine_uses_the_time_after_the_last_whole_epoch(
    monkeypatch, left: float, partial: bool
) -> None:
    """30 whole epochs end 305 s in; with 6 s left (0.6 of an epoch) a 31st runs at the floor
    rate and is cut so that its validation ends at the deadline; with 2 s left (under
    PARTIAL_MIN) training ends after the 30th, as before."""
    from automl.search import BudgetCosine, _callbacks

    clock = {"now": 1000.0}
    monkeypatch.setattr(_callbacks.time, "time", lambda: clock["now"])
    deadline = 1305.0 + left
    cosine = BudgetCosine(1.0, epochs=100_000, deadline=deadline)
    rates = _run_batches(cosine, clock, first_epoch_s=15.0, deadline=deadline)
    assert len(rates) == (31 if partial else 30) and cosine.out_of_time
    assert rates[-1] == pytest.approx(0.05) and rates == sorted(rates, reverse=True)
    if partial:  # cut before the batch that would end past deadline - validation
        assert deadline - 0.9 <= clock["now"] <= deadline
    else:
        assert clock["now"] == pytest.approx(1305.0)


def test_budget_cosine_decays_to_its_floor_on_the_last_epoch_that_fits(monkeypatch) -> None:
    from automl.search import BudgetCosine, _callbacks

    clock = {"now": 1000.0}
    monkeypatch.setattr(_callbacks.time, "time", lambda: clock["now"])

    rates = _run_schedule(BudgetCosine(1.0, epochs=5), clock, [10.0] * 20)
    assert len(rates) == 5 and rates[0] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.05)
    assert rates == sorted(rates, reverse=True)

    # The time left is the plan: a first epoch of 15 s (tracing), then 10 s each, 305 s in
    # all: 30 epochs, the last one ending at the deadline, at the floor.
    clock["now"] = 1000.0
    timed = BudgetCosine(1.0, epochs=100_000, deadline=1305.0)
    rates = _run_schedule(timed, clock, [15.0] + [10.0] * 100)
    assert len(rates) == 30 and clock["now"] == pytest.approx(1305.0)
    assert rates[-1] == pytest.approx(0.05) and rates == sorted(rates, reverse=True)

    # Slow first epochs (a busy host) shrink the plan; when the pace picks up it grows again,
    # and the rate still only falls, to the floor on the last epoch.
    clock["now"] = 1000.0
    busy = BudgetCosine(1.0, epochs=100_000, deadline=1300.0)
    rates = _run_schedule(busy, clock, [40.0] * 4 + [10.0] * 100)
    assert len(rates) == 4 + 14 and clock["now"] == pytest.approx(1300.0)
    assert rates[-1] == pytest.approx(0.05) and rates == sorted(rates, reverse=True)

    # A deadline that leaves room for more than ``epochs``: the cap holds.
    clock["now"] = 1000.0
    capped = BudgetCosine(1.0, epochs=6, deadline=5000.0)
    rates = _run_schedule(capped, clock, [10.0] * 20)
    assert len(rates) == 6 and rates[-1] == pytest.approx(0.05)


@pytest.mark.slow
def test_the_deadline_ends_a_trial_and_its_reason_says_so(tmp_path: Path, digits) -> None:
    """Ended inside an epoch (the reporter checks every batch) or after the last epoch that
    fits (the schedule), whichever comes first on this host: both are the time limit."""
    objective, store, _ = _objective(tmp_path, digits, epochs=1, patience=500)
    study = optuna.create_study(direction="maximize")
    config = strong_default((8, 8, 1)) | {"batch_size": 64}
    study.enqueue_trial(config)
    study.optimize(objective, n_trials=1)  # one epoch, its tracing included: this host's pace
    one_epoch = store.trial("t", 0).duration_s
    objective.config = dataclasses.replace(objective.config, epochs=500)
    objective.deadline = time.time() + max(3.0, 2 * one_epoch)
    study.enqueue_trial(config)
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 1)
    assert trial.state is TrialState.COMPLETE and "time limit" in trial.reason
    assert 1 <= trial.epochs_run < 500 and trial.value is not None
    assert store.artifacts("t")  # a clock-stopped trial still keeps its best model


def _plan(seconds: float = 600.0, **kwargs):
    from automl.search._budget import BudgetPlan

    return BudgetPlan.from_timeout(time.time(), seconds, **kwargs)


@pytest.mark.slow
def test_a_screening_trial_climbs_the_rungs_on_growing_fractions(
    tmp_path: Path, digits, monkeypatch
) -> None:
    from automl.search import _budget

    monkeypatch.setattr(_budget, "MIN_SUBSET_IMAGES", 100)  # digits is small: let it be cut
    objective, store, _ = _objective(tmp_path, digits, plan=_plan())
    study = optuna.create_study(direction="maximize")  # no pruning: every rung runs
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)

    (frozen,) = study.trials
    assert sorted(frozen.intermediate_values) == [1, 3, 9]  # one report per rung
    assert frozen.user_attrs["seconds_per_image"] > 0 and "validation_seconds" in frozen.user_attrs
    # What the next candidates' pace is predicted from.
    assert frozen.user_attrs["multiply_adds"] > 0 and frozen.user_attrs["activation_values"] > 0
    trial = store.trial("t", 0)
    assert trial.phase == "screening" and trial.state is TrialState.COMPLETE
    epochs = store.epochs("t")
    assert [e.data_fraction for e in epochs] == [0.125, 0.125, 0.25, 0.5]
    # Each rung is validated once, after its last epoch: only that score is reported.
    assert [e.val_accuracy is not None for e in epochs] == [False, True, True, True]
    assert [e.val_accuracy for e in epochs[1:]] == [
        frozen.intermediate_values[s] for s in (1, 3, 9)
    ]
    train = len(digits.x_train)
    sizes = [len(s) for s in objective.subsets]
    assert sizes == sorted(sizes) and abs(sizes[0] - train / 8) <= 10
    seen = [e.images_seen for e in epochs]
    assert seen == [sizes[0], 2 * sizes[0], 2 * sizes[0] + sizes[1], 2 * sizes[0] + sum(sizes[1:])]
    assert seen[-1] == trial.images_seen
    assert trial.data_fraction == 0.5


@pytest.mark.slow
def test_screening_stops_before_a_rung_it_cannot_finish(
    tmp_path: Path, digits, monkeypatch
) -> None:
    """The trial ends at the fidelity it reached, with the reason, and keeps its model."""
    from automl.search._budget import BudgetPlan

    monkeypatch.setattr(BudgetPlan, "rung_fits", lambda self, cost, rung, n, now: rung.level < 1)
    objective, store, _ = _objective(tmp_path, digits, plan=_plan())
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.COMPLETE and trial.epochs_run == 2
    assert trial.reason == "screening time left no room for rung 2"
    assert list(study.trials[0].intermediate_values) == [1]
    assert store.artifacts("t")


@pytest.mark.slow
def test_a_first_rung_that_cannot_finish_is_given_up_at_once(tmp_path: Path, digits) -> None:
    plan = _plan(1.0, final_share=0.5)  # half a second of screening: less than one rung
    objective, store, _ = _objective(tmp_path, digits, plan=plan)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"batch_size": 64})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.PRUNED
    assert trial.reason == "screening time ran out during rung 1"
    assert trial.epochs_run == 0  # abandoned mid-epoch: no validation pass was spent on it


@pytest.mark.slow
def test_a_first_rung_cut_after_one_of_its_epochs_is_pruned(
    tmp_path: Path, digits, monkeypatch
) -> None:
    """The first rung trains 2 epochs; time running out in the second leaves no rung score:
    pruned, not complete with a one-epoch score that no other candidate is compared at."""
    from automl.search._callbacks import CostMeter

    monkeypatch.setattr(
        CostMeter, "_seconds_left", lambda self, batch, cost: 1e9 if self._epoch >= 1 else 0.0
    )
    objective, store, _ = _objective(tmp_path, digits, plan=_plan())
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)) | {"batch_size": 64})
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.epochs_run == 1
    assert trial.state is TrialState.PRUNED
    assert trial.reason == "screening time ran out during rung 1"


@pytest.mark.slow
def test_a_candidate_too_slow_for_the_final_phase_is_pruned_early(tmp_path: Path, digits) -> None:
    # 0.2 s for the final phase: no candidate could train 3 full-data epochs in it.
    objective, store, _ = _objective(tmp_path, digits, plan=_plan(600.0, final_share=0.2 / 600))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)
    trial = store.trial("t", 0)
    assert trial.state is TrialState.PRUNED and "too slow for the final phase" in trial.reason
    assert trial.epochs_run <= 1


def test_a_candidate_predicted_far_too_slow_is_pruned_before_it_trains(
    tmp_path: Path, digits
) -> None:
    """Three candidates measured at a microsecond per multiply-add and per activation value:
    the strong default's hundreds of thousands per image would take about a second per image,
    far over the limit."""
    objective, store, _ = _objective(tmp_path, digits, plan=_plan())
    study = optuna.create_study(direction="maximize")
    for adds, values in ((1_000, 500), (2_000, 3_000), (4_000, 1_000)):
        measured = {
            "multiply_adds": adds,
            "activation_values": values,
            "seconds_per_image": (adds + values) * 1e-6,
        }
        study.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs=measured)
        )
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)
    frozen = study.trials[-1]
    trial = store.trial("t", frozen.number)
    assert trial.state is TrialState.PRUNED and "too slow for the final phase" in trial.reason
    assert "predicted for" in trial.reason and "from the candidates measured on this host" in (
        trial.reason
    )
    assert trial.epochs_run == 0 and "seconds_per_image" not in frozen.user_attrs  # never fit
    assert frozen.user_attrs["multiply_adds"] > 100_000
    assert frozen.user_attrs["activation_values"] > 1_000


@pytest.mark.slow
def test_the_final_trial_trains_on_all_the_data_until_its_deadline(tmp_path: Path, digits) -> None:
    objective, store, _ = _objective(tmp_path, digits, plan=_plan(), epochs=4)
    study = optuna.create_study(direction="maximize", pruner=PruneAtEpoch(1))  # never asked
    study.enqueue_trial(strong_default((8, 8, 1)), user_attrs={"phase": "final", "epoch_cap": 4})
    study.optimize(objective, n_trials=1)
    # Three times what the capped run took (its tracing and 4 epochs): many more epochs fit,
    # on any host (8 s fitted 3 on a slow one, beside another test's training).
    objective.deadline = time.time() + max(8.0, 3 * store.trial("t", 0).duration_s)
    study.enqueue_trial(strong_default((8, 8, 1)), user_attrs={"phase": "final"})
    study.optimize(objective, n_trials=1)
    capped, timed = store.trial("t", 0), store.trial("t", 1)
    assert capped.phase == timed.phase == "final"
    assert capped.state is timed.state is TrialState.COMPLETE
    assert capped.epochs_run == 4 and capped.images_seen == 4 * len(digits.x_train)
    assert {e.data_fraction for e in store.epochs("t")} == {1.0}
    assert study.trials[0].intermediate_values == {}  # the pruner is never consulted
    # Uncapped, it trains past --epochs until the time is up, the rate falling to its floor.
    assert timed.epochs_run > 4
    rates = [e.learning_rate for e in store.epochs("t", [1])]
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.25 * rates[0]


@pytest.mark.slow
def test_a_final_its_run_left_queued_is_closed_untrained_by_the_next(
    tmp_path: Path, digits
) -> None:
    """A final that no worker took before its run's deadline waits in Optuna's queue; the next
    run's first worker takes it first. It is closed at once: trained, it would take that
    run's whole budget in place of its screening (seen: a resumed search screened nothing)."""
    objective, store, _ = _objective(tmp_path, digits, plan=_plan(30.0))
    study = optuna.create_study(direction="maximize")
    params = strong_default((8, 8, 1))
    earlier_run = {"phase": "final", "final_deadline": time.time() - 1}
    this_run = {"phase": "final", "final_deadline": time.time() + 60, "epoch_cap": 1}
    study.enqueue_trial(params, user_attrs=earlier_run)
    study.enqueue_trial(params, user_attrs=this_run)
    study.optimize(objective, n_trials=2)
    stale, current = store.trial("t", 0), store.trial("t", 1)
    assert stale.phase == "final" and stale.state is TrialState.PRUNED
    assert stale.epochs_run == 0 and "ended before it started" in (stale.reason or "")
    assert current.state is TrialState.COMPLETE and current.epochs_run == 1  # its run goes on


@pytest.mark.slow
def test_balanced_class_weights_reach_the_fit(tmp_path: Path, digits, monkeypatch) -> None:
    objective, store, _ = _objective(tmp_path, digits, epochs=1, class_weight="balanced")
    seen = {}
    fit = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen.update(kwargs["class_weight"])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(strong_default((8, 8, 1)))
    study.optimize(objective, n_trials=1)
    assert store.trial("t", 0).state is TrialState.COMPLETE
    counts = np.bincount(digits.y_train)
    assert seen[0] == pytest.approx(len(digits.y_train) / (10 * counts[0]))
