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
