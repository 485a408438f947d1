"""Models in an S3 bucket (a real S3-compatible server on loopback): saved by the search, read
back and verified from another folder with an empty cache, and the server going away."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image

from automl._errors import AutoMLError
from automl.cli import main
from dashboard import actions
from storage import TrialStore

from .conftest import AUTOML, assert_loads_and_predicts, wait_until

SEARCH = ["search", "--task", "digits", "--study", "s3", "--epochs", "2", "--timeout", "none",
          "--pruner", "none", "--backbones", "scratch"]  # fmt: skip


def test_models_in_a_bucket_from_search_to_prediction(
    tmp_path: Path, cli, s3_server, capsys
) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    bucket = s3_server.bucket("models") + "/team/automl"

    refused = cli(*SEARCH, "--trials", "2", "--storage", url, "--artifacts", "s3://nosuch/x")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "automl: error: cannot reach s3://nosuch/x: An error occurred (404) when calling the "
        "HeadBucket operation: Not Found"
    ]
    assert not (tmp_path / "automl.db").exists() or not TrialStore(url).list_studies()

    found = cli(*SEARCH, "--trials", "2", "--storage", url, "--artifacts", bucket, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "best model: s3://models/team/automl/s3/trial-" in found.stdout
    store = TrialStore(url)
    artifacts = store.artifacts("s3")
    assert artifacts and all(
        a.location.startswith("s3://models/team/automl/s3/") for a in artifacts
    )
    objects = boto3.client("s3").list_objects_v2(Bucket="models", Prefix="team/automl/s3/")
    keys = sorted(item["Key"] for item in objects["Contents"])
    assert keys == sorted(a.location.removeprefix("s3://models/") for a in artifacts)
    local = [p for p in tmp_path.rglob("*.keras") if "cache" not in p.parts]
    assert local == []  # nothing kept on this machine but the verified cache

    # Another machine: another folder, nothing cached; everything comes from the bucket.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert cli("promote", "--study", "s3", "--storage", url, cwd=elsewhere).returncode == 0
    exported = cli("export", "--study", "s3", "--format", "keras", "--out", "m.keras",
                   "--storage", url, cwd=elsewhere)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    digit = Image.fromarray((np.eye(8) * 255).astype(np.uint8))
    digit.save(elsewhere / "digit.png")
    predicted = cli("predict", "--study", "s3", "--storage", url, "digit.png", cwd=elsewhere)
    assert predicted.returncode == 0, predicted.stderr
    assert "digit.png: " in predicted.stdout
    champion = store.champion("s3")
    download = actions.export(store, "s3", champion.number, "keras")  # the dashboard's button
    assert download.file_name == f"s3-trial{champion.number}.keras" and download.data
    (elsewhere / download.file_name).write_bytes(download.data)
    for model_file in (elsewhere / "m.keras", elsewhere / download.file_name):
        assert_loads_and_predicts(model_file)

    # A model changed in the bucket is refused, not loaded.
    (artifact,) = [a for a in artifacts if a.trial_number == champion.number]
    boto3.client("s3").put_object(
        Bucket="models", Key=artifact.location.removeprefix("s3://models/"), Body=b"tampered"
    )
    shutil.rmtree(tmp_path / "cache")  # the empty cache of a third machine
    with pytest.raises(AutoMLError, match="was changed: its sha256 no longer matches"):
        actions.export(store, "s3", champion.number, "keras")  # the dashboard's button
    assert main(["doctor", "--study", "s3", "--storage", url]) == 1
    assert "changed model" in capsys.readouterr().out


def test_the_bucket_going_away_fails_only_the_trials_that_save(tmp_path: Path, s3_server) -> None:
    """The server stops mid-study: trials that must save a model fail with the reason, the
    study goes on to its end, and reading a model afterwards is one line, exit 2."""
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    bucket = s3_server.bucket("models")
    process = subprocess.Popen(
        [*AUTOML, *SEARCH, "--trials", "3", "--epochs", "12", "--patience", "12", "--storage", url,
         "--artifacts", bucket],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def saved_and_training_the_next() -> bool:
        store = TrialStore(url, create=False)
        return bool(store.artifacts("s3")) and any(e.trial_number == 1 for e in store.epochs("s3"))

    try:
        wait_until(saved_and_training_the_next, "no model was saved")
        s3_server.stop()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    assert "warning: the best model could not be scored: cannot read s3://" in stdout + stderr
    trials = TrialStore(url).trials("s3")
    assert len(trials) == 3 and all(t.state.is_finished for t in trials)
    assert trials[0].state.value == "COMPLETE"
    # Trial 1 is among the best 3 whatever it scores: it had to save, and could not.
    assert trials[1].state.value == "FAIL"
    assert trials[1].reason.startswith("AutoMLError: cannot write s3://models/s3/trial-00001.keras")
    assert "Could not connect" in trials[1].reason

    store = TrialStore(url)
    (kept,) = store.artifacts("s3")
    assert kept.trial_number == 0
    gone = subprocess.run(
        [*AUTOML, "export", "--study", "s3", "--trial", "0", "--format", "keras",
         "--out", str(tmp_path / "m.keras"), "--storage", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert gone.returncode == 2 and "Traceback" not in gone.stderr
    assert gone.stderr.startswith("automl: error: cannot read s3://models/s3/trial-00000.keras")
    doctor = subprocess.run(
        [*AUTOML, "doctor", "--study", "s3", "--storage", url, "--repair"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert doctor.returncode == 2 and "cannot" in doctor.stderr  # and forgot nothing
    assert [a.trial_number for a in TrialStore(url).artifacts("s3")] == [0]
