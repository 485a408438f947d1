"""From the README: ``automl inspect`` on a searched study, the fixes it suggests taken by the
next search, and bad fixes refused with one line before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from automl.data import Overrides, get_task
from storage import TrialStore
from tests.conftest import copy_study


@pytest.fixture(scope="module")
def study(digits_study, tmp_path_factory) -> tuple[str, str, Path]:
    folder = tmp_path_factory.mktemp("inspect_cli")
    return copy_study(digits_study, folder), digits_study.name, folder


def test_inspect_reports_stores_and_the_next_search_takes_the_fixes(study, cli) -> None:
    """The label-error ranking is tested in tests/automl/quality (in process: no second
    TensorFlow start); here the commands, their files and the store."""
    url, name, folder = study
    result = cli(
        "inspect", "--study", name, "--storage", url, "--no-label-issues",
        "--report", "issues.json", "--suggest", "suggested.csv", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "exact duplicate groups" in result.stdout and "odd images" in result.stderr
    report = json.loads((folder / "issues.json").read_text())
    assert report["images"] == 1797 and report["label_issues"] == []
    assert TrialStore(url).data_report(name).images == 1797
    suggested = Overrides.read(folder / "suggested.csv")  # digits: no copies across splits
    assert all(r.action == "exclude" for r in suggested.rows)

    raw = get_task("digits").load_builtin()
    flipped = np.random.default_rng(1).choice(len(raw.y_train), 15, replace=False)
    rows = [f"train/{i},relabel,{(int(raw.y_train[i]) + 3) % 10}" for i in flipped]
    (folder / "fixes.csv").write_text(
        "path,action,label\ntest/0,exclude,\n" + "\n".join(rows) + "\n"
    )
    fixes = Overrides.read(folder / "fixes.csv")

    result = cli(
        "search", "--task", "digits", "--study", "digits-fixed", "--storage", url,
        "--overrides", "fixes.csv", "--trials", "1", "--epochs", "1", "--timeout", "none",
        "--backbones", "scratch", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    recorded = TrialStore(url).get_study("digits-fixed").config["overrides"]
    assert recorded["sha256"] == fixes.sha256 and len(recorded["rows"]) == len(fixes.rows)
    assert f"overrides fixes.csv ({fixes.sha256[:12]})" in result.stdout + result.stderr

    # The same study with other fixes is another study, said in one line.
    (folder / "other.csv").write_text("path,action,label\ntrain/0,exclude,\n")
    result = cli(
        "search", "--task", "digits", "--study", "digits-fixed", "--storage", url,
        "--overrides", "other.csv", "--trials", "2", "--timeout", "none", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 2 and "another --study" in result.stderr


@pytest.mark.parametrize(
    ("command", "csv", "message"),
    [
        ("search", "path,action,label\ntrain/99999,exclude,\n", "no such image in the data"),
        ("search", "path,action,label\ntrain/1,relabel,eleven\n", "no class 'eleven'"),
        ("inspect", "path,verb\n", "expected the columns"),
        ("evaluate", "path,action,label\ntest/1,burn,\n", "action 'burn'"),
    ],
)
def test_bad_fixes_are_one_line_and_store_nothing(study, cli, command, csv, message) -> None:
    url, name, folder = study
    (folder / "bad.csv").write_text(csv)
    target = ["--task", "digits", "--study", "never"] if command == "search" else ["--study", name]
    result = cli(command, *target, "--storage", url, "--overrides", "bad.csv", cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not TrialStore.holds_study(url, "never")
