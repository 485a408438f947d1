"""`automl doctor` on a study with every kind of damage a crash leaves, in a real store."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import optuna
import pytest

from automl.cli import main
from automl.search import (
    SEARCH_SPACE_VERSION,
    ArtifactStore,
    diagnose,
    open_artifact_store,
    open_optuna_storage,
)
from storage import TrialState, TrialStore


@pytest.fixture(params=["folder", "s3"])
def damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[str, TrialStore, ArtifactStore]:
    """The same damage with models in a folder and in an S3 bucket."""
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE_S", "1")  # heartbeats go stale in a second
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    if request.param == "s3":
        artifacts = open_artifact_store(request.getfixturevalue("s3_server").bucket() + "/x")
    else:
        artifacts = open_artifact_store(tmp_path / "artifacts")
    store = TrialStore(url)
    store.ensure_study("s", "digits", SEARCH_SPACE_VERSION, {"artifacts": artifacts.url})
    storage = open_optuna_storage(store)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")

    def put(key: str, content: bytes) -> str:
        staged = tmp_path / "staged.keras"
        staged.write_bytes(content)
        return artifacts.put(staged, key)

    def trial(optuna_state: str, ours: TrialState) -> int:
        frozen = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        row = store.start_trial("s", frozen.number)
        if optuna_state == "RUNNING":
            storage.record_heartbeat(frozen._trial_id)
        else:
            value = 0.5 if optuna_state == "COMPLETE" else None
            study.tell(frozen, value, state=optuna.trial.TrialState[optuna_state])
        if ours is not TrialState.RUNNING:
            store.finish_trial(row.id, ours, value=0.5)
        return frozen.number

    def model(number: int) -> str:
        key = f"s/trial-{number:05d}.keras"
        location = put(key, b"model")
        store.save_artifact("s", number, location, 5, hashlib.sha256(b"model").hexdigest())
        return key

    model(trial("COMPLETE", TrialState.COMPLETE))  # healthy
    put(model(trial("COMPLETE", TrialState.COMPLETE)), b"tampered")
    artifacts.remove(model(trial("COMPLETE", TrialState.COMPLETE)))  # missing
    trial("FAIL", TrialState.RUNNING)  # our row out of step
    trial("RUNNING", TrialState.RUNNING)  # its worker is gone
    put("s/trial-00099.keras", b"left over")  # orphan
    time.sleep(2)
    return url, store, artifacts


@pytest.mark.slow
def test_doctor_finds_without_changing_then_repairs(damaged, capsys) -> None:
    url, store, artifacts = damaged
    before = sorted((f.kind, f.trial) for f in diagnose(store, "s"))
    assert before == sorted(
        [
            ("changed model", 1),
            ("missing model", 2),
            ("row out of step", 3),
            ("stale trial", 4),
            ("orphan file", None),
        ]
    )
    assert main(["doctor", "--study", "s", "--storage", url]) == 1  # problems, nothing changed
    assert "nothing was changed" in capsys.readouterr().out
    assert sorted((f.kind, f.trial) for f in diagnose(store, "s")) == before

    assert main(["doctor", "--study", "s", "--storage", url, "--repair"]) == 0
    out = capsys.readouterr().out
    assert "0 problems left" in out
    assert diagnose(store, "s") == []
    # What each repair did, as it said it would.
    assert [a.trial_number for a in store.artifacts("s")] == [0]  # the healthy model stays
    assert artifacts.keys("s/") == ["s/trial-00000.keras", "s/trial-00001.keras.corrupt"]
    assert artifacts.local_file("s/trial-00001.keras.corrupt").read_bytes() == b"tampered"
    assert store.trial("s", 3).state is TrialState.FAIL
    assert store.trial("s", 4).state is TrialState.FAIL
    study = optuna.load_study(study_name="s", storage=url)
    retry = study.trials[-1]  # the stale trial's configuration, queued once more
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.system_attrs["failed_trial"] == 4 and retry.params == study.trials[4].params
    assert main(["doctor", "--study", "s", "--storage", url]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_doctor_on_an_unknown_study_is_one_line(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    TrialStore(url)
    assert main(["doctor", "--study", "nope", "--storage", url]) == 2
    assert capsys.readouterr().err.strip().startswith("automl: error:")


def test_pruning_deletes_only_where_the_keeper_puts_models(tmp_path: Path) -> None:
    """A recorded location outside the models' folder (an edited database) is forgotten when
    its trial drops out of the best k, never deleted."""
    from automl.search import ArtifactKeeper, open_artifact_store

    store = TrialStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.ensure_study("s", "digits", 1, {})
    artifacts = open_artifact_store(tmp_path / "artifacts")
    precious = tmp_path / "precious.txt"
    precious.write_text("not a model")
    kept_file = tmp_path / "artifacts" / "s" / "trial-00001.keras"
    kept_file.parent.mkdir(parents=True)
    kept_file.write_bytes(b"model")
    for number, value in enumerate([0.5, 0.6, 0.9]):
        trial = store.start_trial("s", number)
        store.finish_trial(trial.id, TrialState.COMPLETE, value=value)
    store.save_artifact("s", 0, str(precious), 11, "0" * 64)  # points outside the folder
    store.save_artifact("s", 1, str(kept_file), 5, "1" * 64)
    ArtifactKeeper(store, "s", artifacts, keep=1).prune()  # only trial 2 is among the best 1
    assert store.artifacts("s") == []
    assert precious.read_text() == "not a model"  # forgotten, not deleted
    assert not kept_file.exists()  # its own file: deleted
