"""A backbone's resolution is the study's, decided once from the budget; a budget that cannot
afford its features prunes its trials at once instead of spending the screening on them."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from automl.data import get_task
from automl.search import SearchConfig
from automl.search._budget import BudgetPlan
from automl.search._pretrained import RESOLUTION_ATTR, UNAFFORDABLE_ATTR, Pretrained

NAME = "efficientnet_lite0"


@pytest.fixture(scope="module")
def digits():
    return get_task("digits").load(None, 0.1, seed=0)


def _pretrained(tmp_path: Path, digits, plan: BudgetPlan | None, lines: list[str], **config):
    settings = SearchConfig(task="digits", storage_url=f"sqlite:///{tmp_path / 'a.db'}", **config)
    return Pretrained(settings, digits, plan, lines.append)


def test_without_a_budget_the_resolution_is_decided_once_for_the_study(tmp_path, digits) -> None:
    study = optuna.create_study()
    pretrained = _pretrained(tmp_path, digits, None, [])
    assert pretrained.resolution(NAME, study) == 32  # 8-pixel digits upscaled 4 times
    assert study.user_attrs[RESOLUTION_ATTR.format(NAME)] == 32
    study.set_user_attr(RESOLUTION_ATTR.format(NAME), 64)  # another worker decided first
    assert pretrained.resolution(NAME, study) == 64


def test_the_budget_picks_the_largest_resolution_whose_features_fit(tmp_path, digits) -> None:
    study = optuna.create_study()
    plan = BudgetPlan.from_timeout(time.time(), 3600.0)
    pretrained = _pretrained(tmp_path, digits, plan, [])
    assert pretrained.resolution(NAME, study) == 32  # an hour affords the default


def test_a_budget_that_cannot_afford_the_features_prunes_every_trial_of_the_backbone(
    tmp_path, digits
) -> None:
    study = optuna.create_study()
    plan = BudgetPlan.from_timeout(time.time(), 0.5)  # no screening time to speak of
    lines: list[str] = []
    pretrained = _pretrained(tmp_path, digits, plan, lines)
    with pytest.raises(optuna.TrialPruned, match="no time for backbone efficientnet_lite0"):
        pretrained.resolution(NAME, study)
    assert "over 50% of the" in study.user_attrs[UNAFFORDABLE_ATTR.format(NAME)]
    assert lines == [study.user_attrs[UNAFFORDABLE_ATTR.format(NAME)]]
    later: list[str] = []
    with pytest.raises(optuna.TrialPruned, match="no time for backbone"):
        _pretrained(tmp_path, digits, plan, later).resolution(NAME, study)  # another worker
    assert later == []  # decided from the study's record: nothing measured or logged again


def test_an_explicit_resolution_is_used_as_given(tmp_path, digits) -> None:
    study = optuna.create_study()
    plan = BudgetPlan.from_timeout(time.time(), 0.5)
    pretrained = _pretrained(tmp_path, digits, plan, [], backbone_resolution=96)
    assert pretrained.resolution(NAME, study) == 96


@pytest.mark.slow
def test_a_pretrained_winners_final_run_fine_tunes_the_last_blocks(tmp_path, digits) -> None:
    import keras

    from automl.search._artifact_store import open_artifact_store
    from automl.search._artifacts import ArtifactKeeper
    from automl.search._budget import FINAL_DEADLINE_ATTR, PHASE_ATTR
    from automl.search._pretrained import FINE_TUNE_BLOCKS
    from automl.search._search_space import head_default
    from automl.search._training import HEAD_FINAL_EPOCHS, Objective
    from storage import TrialState, TrialStore

    config = SearchConfig(
        task="digits", study_name="t", storage_url=f"sqlite:///{tmp_path / 'a.db'}",
        backbones=(NAME,), backbone_resolution=32,
    )  # fmt: skip
    store = TrialStore(config.storage_url)
    store.ensure_study("t", "digits", 1, {})
    keeper = ArtifactKeeper(store, "t", open_artifact_store(config.artifacts), 3)  # type: ignore[arg-type]
    plan = BudgetPlan.from_timeout(time.time() - 30, 75.0)  # screening over: 45 s of final left
    study = optuna.create_study(direction="maximize")
    head = {k: v for k, v in head_default(NAME).items() if k != "backbone"}  # the only choice
    study.enqueue_trial(head, user_attrs={PHASE_ATTR: "final", FINAL_DEADLINE_ATTR: plan.deadline})
    study.optimize(Objective(config, digits, store, keeper, plan=plan), n_trials=1)

    trial = store.trial("t", 0)
    assert trial.state is TrialState.COMPLETE, trial.reason
    assert trial.epochs_run > HEAD_FINAL_EPOCHS  # the head's epochs, then the fine-tuning's
    epochs = store.epochs("t")
    assert [e.epoch for e in epochs] == list(range(1, trial.epochs_run + 1))
    model = keras.models.load_model(store.artifact("t", 0).location)
    trainable = {layer.name for layer in model.layers if layer.trainable_weights}
    if trial.params.get("fine_tuned_blocks"):
        assert trial.params["fine_tuned_blocks"] == FINE_TUNE_BLOCKS
        assert {"block15_project", "top", "probabilities"} <= trainable
        assert "block12_project" not in trainable and "top_bn" not in trainable
    else:  # validation preferred the frozen backbone: kept, and the trial says so
        assert "the frozen one is kept" in trial.reason
