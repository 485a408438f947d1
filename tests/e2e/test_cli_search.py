"""The `automl` command as a user runs it: real searches on digits, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from automl.search import sha256_of
from storage import TrialState, TrialStore

from .conftest import AUTOML


def test_search_records_everything_and_resumes(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    common = ["--task", "digits", "--epochs", "2", "--storage", url, "--timeout", "none"]
    first = cli("search", *common, "--trials", "4", "--keep-best", "2", "--trials-per-worker", "2")
    assert first.returncode == 0, first.stderr
    assert "test accuracy" in first.stdout and "Traceback" not in first.stderr

    store = TrialStore(url, create=False)
    trials = store.trials("digits")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state.is_finished for t in trials)
    epochs = store.epochs("digits")
    for trial in trials:
        assert sum(1 for e in epochs if e.trial_number == trial.number) == trial.epochs_run
    artifacts = store.artifacts("digits")
    assert 1 <= len(artifacts) <= 2
    for artifact in artifacts:
        assert sha256_of(Path(artifact.location)) == artifact.sha256
    assert Path(artifacts[0].location).parent == tmp_path / "artifacts" / "digits"
    best = store.best_trial("digits", with_artifact=True)
    assert best.test_accuracy is not None and 0.0 < best.test_accuracy <= 1.0
    # Trials ran in more than one worker process (memory stays bounded).
    study = optuna.load_study(study_name="digits", storage=url)
    ran = [t for t in study.trials if t.state.is_finished()]  # the portfolio's last still waits
    assert len({t.user_attrs["worker_pid"] for t in ran}) >= 2
    # The portfolio's first (a head on the pretrained backbone) ran first, as queued.
    from automl.data import get_task
    from automl.search import SearchConfig, portfolio

    backbones = SearchConfig(task="digits").backbones
    first = portfolio(get_task("digits").input_shape, 1_000, backbones)[0]
    assert study.trials[0].system_attrs["fixed_params"] == first
    assert study.trials[0].params["backbone"] == first["backbone"] == "efficientnet_lite0"

    listing = cli("trials", "--study", "digits", "--storage", url)
    assert listing.returncode == 0 and "COMPLETE" in listing.stdout
    studies = cli("studies", "--storage", url)
    assert studies.returncode == 0 and "digits" in studies.stdout

    resumed = cli("search", *common, "--trials", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming study 'digits': 4 trials done, 1 to go" in resumed.stdout + resumed.stderr
    assert [t.number for t in store.trials("digits")] == [0, 1, 2, 3, 4]

    again = cli("search", *common, "--trials", "5")
    assert again.returncode == 0 and "already has 5 finished trials" in again.stdout + again.stderr
    # Its best model keeps the score stored for it, while the file is the one that was scored.
    best = store.best_trial("digits", with_artifact=True)
    assert f"test accuracy {best.test_accuracy:.4f}" in again.stdout
    Path(store.artifact("digits", best.number).location).write_bytes(b"another model")
    changed = cli("search", *common, "--trials", "5")
    assert changed.returncode == 0 and "test accuracy -" in changed.stdout
    assert "its sha256 no longer matches" in changed.stdout + changed.stderr


@pytest.mark.parametrize(
    ("stop", "code", "reason", "rerun"),
    [
        # Ctrl-C in a terminal: SIGINT to the whole process group.
        (lambda pid: os.killpg(pid, signal.SIGINT), 130, "interrupted", False),
        # Kubernetes / `kill`: SIGTERM to the main process only; the Job runs it again (the
        # rerun is the same after either stop: tried once).
        (lambda pid: os.kill(pid, signal.SIGTERM), 143, "terminated", True),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stopped_search_closes_the_trial_and_a_rerun_resumes(
    tmp_path: Path, stop, code: int, reason: str, rerun: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    args = ["search", "--task", "digits", "--epochs", "30", "--patience", "30", "--timeout", "none"]
    args += ["--backbones", "scratch"]  # CNN trials: long enough to be stopped mid-epoch
    args += ["--storage", url]
    process = subprocess.Popen(
        [*AUTOML, *args, "--trials", "20", "--pruner", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal job
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            time.sleep(1)
            if Path(tmp_path / "automl.db").exists():
                store = TrialStore(url, create=False)
                if store.study_names() and len(store.epochs("digits")) >= 3:
                    break
        else:
            pytest.fail("the search never got going")
        stop(process.pid)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, stderr
    assert reason in stderr and "Traceback" not in stderr

    store = TrialStore(url, create=False)
    trials = store.trials("digits")
    assert trials and all(t.state.is_finished for t in trials)
    assert trials[-1].state is TrialState.FAIL and reason in trials[-1].reason
    study = optuna.load_study(study_name="digits", storage=url)
    # None left running (the portfolio's not yet tried configurations still wait).
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]

    if not rerun:
        return
    done = len(trials)
    again = subprocess.run(
        [*AUTOML, *args[:-2], "--epochs", "2", "--storage", url, "--trials", str(done + 1)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert len(store.trials("digits")) == done + 1


def test_a_killed_worker_fails_its_trial_and_the_search_goes_on(tmp_path: Path) -> None:
    """SIGKILL (what the kernel's OOM killer sends) on the worker mid-trial."""
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    process = subprocess.Popen(
        [*AUTOML, "search", "--task", "digits", "--storage", url, "--trials", "2",
         "--epochs", "40", "--patience", "40", "--pruner", "none", "--timeout", "none",
         "--backbones", "scratch"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        victim = None
        deadline = time.time() + 120
        while victim is None and time.time() < deadline:
            time.sleep(1)
            try:
                trials = optuna.load_study(study_name="digits", storage=url).trials
                store = TrialStore(url, create=False)
                if trials and "worker_pid" in trials[0].user_attrs and store.epochs("digits"):
                    victim = trials[0].user_attrs["worker_pid"]
            except Exception:  # the study may not exist yet
                continue
        assert victim is not None, "the first trial never started"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    store = TrialStore(url, create=False)
    first, *rest = store.trials("digits")
    assert first.state is TrialState.FAIL and "worker process died" in first.reason
    assert "queued to run again" in stdout
    assert rest and rest[0].state is TrialState.COMPLETE
    study = optuna.load_study(study_name="digits", storage=url)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    # The retry: the same configuration queued as a new trial (after the portfolio's, which
    # were queued first); the killed attempt's epochs stay its own.
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.params == study.trials[0].params and retry.number > 1
    assert {e.trial_number for e in store.epochs("digits", [0])} == {0}


def test_a_file_that_is_not_a_database_is_one_line_on_every_command(tmp_path: Path, cli) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("my shopping list\n")
    url = f"sqlite:///{notes}"
    for args in (
        ["search", "--task", "digits", "--trials", "1"],
        ["studies"],
        ["trials", "--study", "s"],
        ["evaluate", "--study", "s"],
        ["promote", "--study", "s", "--trial", "0"],
        ["export", "--study", "s", "--format", "keras", "--out", str(tmp_path / "m.keras")],
        ["doctor", "--study", "s"],
    ):
        result = cli(*args, "--storage", url, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert (
            result.stderr.strip()
            == f"automl: error: cannot open database {url}: file is not a database"
        )
    assert notes.read_text() == "my shopping list\n"  # untouched


def test_bad_input_is_named_before_tensorflow_starts(tmp_path: Path) -> None:
    """A wrong --storage, --study, --data-dir, --warm-start or --artifacts is one line within a
    second or two, not after TensorFlow (5-10 s) and the data (minutes for a large folder)."""
    notes = tmp_path / "notes.db"
    notes.write_text("my shopping list\n")
    store = TrialStore(f"sqlite:///{tmp_path / 'automl.db'}")
    store.ensure_study("real", "digits", 1, {})
    (tmp_path / "artifacts" / "taken").mkdir(parents=True)
    (tmp_path / "artifacts" / "taken" / "trial-00000.keras").write_bytes(b"a model")
    cases = [
        (["search", "--task", "digits", "--storage", f"sqlite:///{notes}"], "not a database"),
        (["search", "--task", "digits", "--storage", "postgresql+psycopg://x@127.0.0.1:1/db"],
         "Connection refused"),
        (["search", "--task", "mnist", "--data-dir", "/no/such/dir"], "is not a directory"),
        (["search", "--data", "/no/such/place"], "no such folder or manifest"),
        (["search", "--task", "digits", "--warm-start", "nope", "--storage", store.url],
         "--warm-start: no study named 'nope'"),
        (["search", "--task", "digits", "--artifacts", str(notes)], "is a file, not a folder"),
        # Another database's study of the same name keeps its models (and this one is not
        # created): two databases side by side share the models' folder next to them.
        (["search", "--task", "digits", "--study", "taken", "--storage",
          f"sqlite:///{tmp_path / 'other.db'}"],
         f"{tmp_path / 'artifacts' / 'taken'} already holds 1 saved model of a study named "
         "'taken' that this database does not hold"),
        *(
            ([*command, "--storage", url], message)
            for url, message in (
                (f"sqlite:///{notes}", "not a database"),
                (store.url, "no study named 'nope'"),
            )
            for command in (
                ["evaluate", "--study", "nope"],
                ["promote", "--study", "nope", "--trial", "0"],
                ["export", "--study", "nope", "--format", "onnx", "--out", str(tmp_path / "m")],
                ["predict", "--study", "nope", str(notes)],
            )
        ),
    ]  # fmt: skip
    code = (
        "import json, sys\n"
        "from automl.cli import main\n"
        "codes = [main(run) for run in json.loads(sys.argv[1])]\n"
        "print(json.dumps([codes, 'tensorflow' in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps([args for args, _ in cases])],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(result.stdout) == [[2] * len(cases), False], result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(cases), result.stderr
    for line, (_, message) in zip(errors, cases):
        assert line.startswith("automl: error: ") and message in line
    assert not (tmp_path / "other.db").exists()


def test_bad_data_file_and_wrong_task_study(tmp_path: Path, cli) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"not an archive")
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    bad = cli("search", "--task", "mnist", "--data-dir", str(tmp_path), "--storage", url)
    assert bad.returncode == 2 and "cannot read" in bad.stderr and "Traceback" not in bad.stderr
    # Checked in the search's own process before the study is written: nothing is left behind.
    assert not (tmp_path / "automl.db").exists()

    TrialStore(url).ensure_study("shared", "mnist", 1, {})
    clash = cli("search", "--task", "digits", "--study", "shared", "--storage", url)
    assert clash.returncode == 2
    assert "study 'shared' already exists for task 'mnist'" in clash.stderr
    # Nothing was lost or half-written: the original study is intact.
    assert TrialStore(url).get_study("shared").task == "mnist"

    # A warm start from a study of another search space or image shape is refused.
    TrialStore(url).ensure_study("old-space", "digits", 1, {})
    old = cli("search", "--task", "digits", "--warm-start", "old-space", "--storage", url)
    assert old.returncode == 2 and "used search-space version 1" in old.stderr
    from automl.search import SEARCH_SPACE_VERSION

    TrialStore(url).ensure_study("other-shape", "mnist", SEARCH_SPACE_VERSION, {})
    shape = cli("search", "--task", "digits", "--warm-start", "other-shape", "--storage", url)
    assert shape.returncode == 2 and "this search has (8, 8, 1)" in shape.stderr
    assert "Traceback" not in old.stderr + shape.stderr


def test_a_search_without_a_model_says_why(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    result = cli("search", "--task", "digits", "--storage", url, "--trials", "1",
                 "--timeout", "none", "--max-params", "10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 pruned" in result.stdout
    assert re.search(
        r"no trial completed: no model to score \(trial 0: [\d,]+ parameters exceed the cap "
        r"of 10\)\n",
        result.stdout,
    )


def test_unknown_study_in_trials(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    TrialStore(url).ensure_study("alpha", "digits", 1, {})
    result = cli("trials", "--study", "beta", "--storage", url)
    assert result.returncode == 2 and "known studies: alpha" in result.stderr


@pytest.mark.postgres
def test_two_workers_share_one_study_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """Two `automl search` processes started at the same instant on an empty PostgreSQL
    database (as a Kubernetes Job with parallelism 2 starts them): both create the schema and
    the study without colliding, and share it: every trial once, all recorded."""
    args = [*AUTOML, "search", "--task", "digits", "--study", "shared", "--epochs", "2",
            "--trials", "6", "--storage", postgres_url, "--timeout", "none",
            "--backbones", "scratch", "--artifacts", str(tmp_path / "artifacts")]  # fmt: skip
    processes = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    store = TrialStore(postgres_url, create=False)
    trials = store.trials("shared")
    assert [t.number for t in trials] == list(range(len(trials)))
    assert 6 <= len(trials) <= 8  # each worker may finish the trial it had started
    assert all(t.state.is_finished for t in trials)
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert len({t.user_attrs["worker_pid"] for t in study.trials}) >= 2
    assert {t.number for t in study.trials} == {t.number for t in trials}


def test_workers_share_the_cores_and_train_the_two_best_in_the_final(tmp_path: Path, cli) -> None:
    """`--workers 2` on one machine: one more search process on the same study and clock;
    each trains a different configuration in the final phase."""
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    # 50 s of screening: each worker process takes 10-15 s to start on a busy 2-core host;
    # and 50 s for the finals: with 32, a slow host's second final once found no time to start.
    result = cli("search", "--task", "digits", "--workers", "2", "--timeout", "100",
                 "--storage", url, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 workers, 1 TensorFlow thread(s) each" in result.stderr
    log = tmp_path / "artifacts" / "digits" / "worker-1.log"
    assert "study 'digits'" in log.read_text()  # the helper ran to its end
    study = optuna.load_study(study_name="digits", storage=url)
    finals = [t for t in study.trials if t.user_attrs.get("phase") == "final"]
    assert len(finals) == 2 and all(t.state.name == "COMPLETE" for t in finals)
    assert len({t.user_attrs["screened_as"] for t in finals}) == 2
    assert len({t.user_attrs["worker_pid"] for t in study.trials}) >= 2
    trials = TrialStore(url, create=False).trials("digits")
    assert all(t.state.is_finished for t in trials)
