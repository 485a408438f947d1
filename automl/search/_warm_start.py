"""``--warm-start STUDY``: screen an earlier study's best configurations first."""

from __future__ import annotations

import optuna

from automl._errors import AutoMLError
from automl.data import Task
from automl.search._budget import PHASE_ATTR
from automl.search._config import SearchConfig, open_study_task
from automl.search._optuna import open_optuna_storage
from automl.search._search_space import SEARCH_SPACE_VERSION
from storage import StorageError, TrialStore

WARM_START_TOP = 3


def warm_start_params(config: SearchConfig, task: Task) -> list[dict]:
    """The best distinct configurations of ``config.warm_start``, as Optuna params, from a
    store that must already exist; refuses a study that does not exist, or whose space or
    image shape differs from ``task``'s (this search's, whose folder of images is scanned only
    if the cheaper checks pass). Called before TensorFlow starts and the data is read."""
    name = config.warm_start
    assert name is not None
    try:
        store = TrialStore(config.storage_url, create=False)
    except StorageError as exc:
        raise AutoMLError(f"--warm-start: {exc}") from None
    try:
        return _best_configurations(name, store, task)
    finally:
        store.close()


def _best_configurations(name: str, store: TrialStore, task: Task) -> list[dict]:
    try:
        source = store.get_study(name)
    except StorageError as exc:
        raise AutoMLError(f"--warm-start: {exc}") from None
    if source.search_space_version != SEARCH_SPACE_VERSION:
        raise AutoMLError(
            f"--warm-start: study {name!r} used search-space version "
            f"{source.search_space_version}, this search uses {SEARCH_SPACE_VERSION}"
        )
    shape = task.input_shape
    source_shape = open_study_task(source.task, source.config).input_shape
    if shape != source_shape:
        raise AutoMLError(
            f"--warm-start: study {name!r} ({source.task}) searched images of {source_shape}, "
            f"this search has {shape}"
        )
    study = optuna.load_study(study_name=name, storage=open_optuna_storage(store))
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None
    ]
    # Final-phase trials repeat a screened configuration: one entry per configuration.
    complete.sort(key=lambda t: (t.user_attrs.get(PHASE_ATTR) != "final", -t.value, t.number))
    chosen: list[dict] = []
    for trial in complete:
        if trial.params not in chosen:
            chosen.append(dict(trial.params))
        if len(chosen) == WARM_START_TOP:
            break
    return chosen
