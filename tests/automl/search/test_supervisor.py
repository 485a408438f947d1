"""The supervisor of worker processes: the next worker gets ready while one trains."""

from __future__ import annotations

import time
from datetime import datetime

import optuna
import pytest

from automl import SearchConfig
from automl.search._supervisor import Supervisor


@pytest.mark.slow
def test_the_next_worker_gets_ready_while_one_trains_and_goes_home_if_unused(
    tmp_path, monkeypatch
) -> None:
    from automl.search._optuna import open_optuna_storage
    from automl.search._search_space import SEARCH_SPACE_VERSION
    from automl.search._worker import WorkerJob
    from storage import TrialStore

    url = f"sqlite:///{tmp_path / 'a.db'}"
    config = SearchConfig(
        task="digits", study_name="s", epochs=1, timeout_s=None, storage_url=url,
        artifacts=str(tmp_path / "artifacts"),
    )  # fmt: skip
    store = TrialStore(url)
    store.ensure_study("s", "digits", SEARCH_SPACE_VERSION, config.to_json())
    optuna.create_study(study_name="s", storage=open_optuna_storage(store), direction="maximize")
    supervisor = Supervisor(config, store, lambda line: None, None, initial=0)
    started: list[datetime] = []
    start_worker = supervisor._start_worker

    flagged: list[bool] = []  # whether a spare was flagged as getting ready, as it started

    def timed_start(**kwargs):
        started.append(datetime.now())
        worker = start_worker(**kwargs)
        flagged.append(supervisor._spare_loading.is_set())
        return worker

    monkeypatch.setattr(supervisor, "_start_worker", timed_start)
    try:
        assert supervisor.run(WorkerJob(1, None, 0), more_to_come=True) == 1
        spare = supervisor._spare.process
        assert spare.is_alive()
        # The spare says when it is ready: the steps timed before that decide nothing.
        assert flagged == [False, True]
        waited = 0.0
        while supervisor._spare_loading.is_set() and waited < 120:
            time.sleep(0.5)
            waited += 0.5
        assert not supervisor._spare_loading.is_set()
        assert supervisor.run(WorkerJob(1, None, 1), more_to_come=True) == 1
        unused = supervisor._spare.process
    finally:
        supervisor.close()
    trials = optuna.load_study(study_name="s", storage=url).trials
    pids = [t.user_attrs["worker_pid"] for t in trials]
    assert pids[1] == spare.pid != pids[0]  # the spare ran trial 1
    # Both first workers got ready together, before trial 0 trained beside a starting spare.
    assert len(started) == 3 and started[1] < trials[0].datetime_start
    assert not unused.is_alive() and unused.exitcode == 0  # sent home, not killed
    assert len(trials) == 2 and all(t.state.is_finished for t in store.trials("s"))
