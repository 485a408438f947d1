"""PostgreSQL restarted under a running search: the workers wait for it and go on."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import optuna
import pytest

from storage import TrialStore

from .conftest import AUTOML

#: It restarts the server every other test uses: only where asked (CI asks).
RESTART_ALLOWED = bool(os.environ.get("CI") or os.environ.get("AUTOML_TEST_PG_RESTART"))


def _restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=120,
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    not RESTART_ALLOWED or shutil.which("pg_ctlcluster") is None,
    reason="restarts PostgreSQL: set AUTOML_TEST_PG_RESTART=1 (CI does)",
)
def test_a_postgresql_restart_mid_study(postgres_url: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*AUTOML, "search", "--task", "digits", "--study", "restart", "--storage", postgres_url,
         "--trials", "8", "--epochs", "8", "--patience", "8", "--pruner", "none",
         "--timeout", "none", "--artifacts", str(tmp_path / "artifacts")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            time.sleep(1)
            try:
                if len(TrialStore(postgres_url, create=False).epochs("restart")) >= 3:
                    break
            except Exception:  # the study may not exist yet
                continue
        else:
            pytest.fail("the search never got going")
        _restart_postgresql()
        stdout, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    trials = TrialStore(postgres_url, create=False).trials("restart")
    assert all(t.state.is_finished for t in trials)
    study = optuna.load_study(study_name="restart", storage=postgres_url)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    # At most the trial in flight failed, and its configuration was queued once more.
    failed = [t for t in trials if t.state.value == "FAIL"]
    assert len(failed) <= 1
    for trial in failed:
        assert any(t.system_attrs.get("failed_trial") == trial.number for t in study.trials)
