"""The ``automl`` command line in-process: every command's help, the defaults it takes from
the stages' configs, and bad input as one line and exit code 2 before anything is stored."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from automl.cli import COMMANDS, EXIT_USAGE, build_parser, main
from automl.search import SearchConfig
from automl.serve import ServeConfig


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "-h"] if command else ["-h"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: automl {command or ''}".rstrip())
    if command is None:  # the top level lists every command
        assert all(name in out for name in COMMANDS)


def test_search_flags_default_to_the_config_fields() -> None:
    """A default is written once: the parser reads SearchConfig's and ServeConfig's fields."""
    args = build_parser().parse_args(["search"])
    flag_of = {"timeout_s": "timeout"}
    config_fields = {f.name: f for f in fields(SearchConfig)}
    checked = 0
    for name in (
        "timeout_s", "final_share", "epochs", "patience", "keep_best", "max_params",
        "validation_fraction", "seed", "sampler", "pruner", "trials_per_worker", "class_weight",
    ):  # fmt: skip
        assert getattr(args, flag_of.get(name, name)) == config_fields[name].default, name
        checked += 1
    assert checked == 12
    assert args.backbones == config_fields["backbones"].default
    assert args.weights_dir == config_fields["weights_dir"].default
    serve = build_parser().parse_args(["serve", "--study", "s"])
    for field in fields(ServeConfig):
        assert getattr(serve, field.name) == field.default, field.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "invalid choice: 'nope'"),
        ([], "the following arguments are required: command (see automl -h)"),
        (["search", "--epochs", "x"], "invalid int value: 'x' (see automl search -h)"),
        (["search", "--timeout", "soon"], "expected seconds or 'none'"),
        (["search", "--task", "digits", "--final-share", "0.95"], "--final-share must be in"),
        (["search", "--task", "digits", "--pruner", "magic"], "unknown pruner 'magic'"),
        (["search", "--task", "digits", "--class-weight", "heavy"], "unknown --class-weight"),
        (["search", "--task", "digits", "--validation-fraction", "0.7"], "--validation-fraction"),
        (["search", "--data", "{tmp}", "--image-size", "4"], "--image-size must be between"),
        (["search", "--data", "{tmp}", "--color-mode", "sepia"], "unknown --color-mode 'sepia'"),
        (["search", "--data", "{tmp}", "--test-fraction", "0.6"], "--test-fraction must be in"),
        (["trials", "--study", "s", "--state", "DONE"], "invalid choice: 'DONE'"),
        (["doctor"], "the following arguments are required: --study"),
        (["evaluate", "--study", "s"], "no database at"),
        (["promote", "--study", "s"], "no database at"),
        (["export", "--study", "s", "--format", "keras"], "required: --out"),
        (["export", "--study", "s", "--format", "keras", "--out", "m.keras"], "no database at"),
        (["predict", "x.png"], "one of the arguments --model --study is required"),
        (["predict", "--study", "s", "x.png"], "no database at"),
        (["serve", "--study", "s", "--port", "0"], "--port must be 1-65535"),
        (["serve", "--study", "s", "--batch-window-ms", "-1"], "--batch-window-ms must be 0-1000"),
        (["serve", "--study", "s", "--runtime", "tensorrt"], "unknown --runtime 'tensorrt'"),
        (["serve", "--study", "s", "--host", "0.0.0.0"], "--token-file"),
        (["serve", "--study", "s", "--token-file", "{tmp}/none"], "cannot read --token-file"),
        (["dashboard", "--port", "many"], "invalid int value: 'many'"),
        (["prune-log", "--older-than", "-1"], "--older-than must be 0 days or more"),
        (["prune-log", "--older-than", "7"], "no database at"),
        (["serve", "--study", "s", "--log-retention-days", "-2"], "--log-retention-days must be"),
        (["serve", "--study", "s", "--workers", "0"], "--workers must be 1-64"),
        (["search", "--task", "digits", "--study", "trailing\n"], "invalid study name"),
        # moved from the end-to-end tests: the same checks, in-process
        (["search", "--task", "imagenet"], "unknown task 'imagenet'; known tasks: mnist"),
        (["search", "--task", "digits", "--trials", "0"], "--trials must be positive"),
        (["search", "--task", "digits", "--epochs", "-3"], "--epochs must be positive"),
        (["search", "--task", "digits", "--timeout", "0"], "--timeout must be positive"),
        (["search", "--task", "digits", "--workers", "0"], "--workers must be at least 1"),
        (["search", "--task", "digits", "--trials", "many"], "invalid int value"),
        (["search", "--task", "digits", "--sampler", "magic"], "unknown sampler 'magic'"),
        (["search", "--task", "digits", "--backbones", "resnet50"], "unknown backbone 'resnet50'"),
        (["search", "--task", "digits", "--backbones", ","], "--backbones needs at least one"),
        (
            ["search", "--task", "digits", "--backbone-resolution", "16"],
            "--backbone-resolution must be between 32 and 448",
        ),
        (
            ["search", "--task", "digits", "--weights-dir", "/nonexistent"],
            "no weights file at /nonexistent/efficientnet-lite0-57934424.pth",
        ),
        (["search", "--task", "digits", "--storage", "::nonsense"], "malformed storage URL"),
        (
            ["search", "--task", "digits", "--storage", "postgresql+psycopg://x@127.0.0.1:1/db"],
            "cannot open database",
        ),
        (["search", "--task", "mnist", "--data-dir", "/no/such/dir"], "is not a directory"),
        (["search", "--task", "digits", "--study", "bad name!"], "invalid study name"),
        (["trials", "--study", "nope", "--storage", "sqlite:///{tmp}/none.db"], "no database"),
        (["studies", "--storage", "sqlite:///{tmp}/none.db"], "no database"),
        (["search", "--data", "/no/such/place"], "no such folder or manifest: /no/such/place"),
        (["search", "--data", "{tmp}", "--resize", "squash"], "unknown --resize 'squash'"),
        (["search", "--data", "{tmp}", "--background", "bluish"], "not a colour: 'bluish'"),
        (["search", "--data", "{tmp}"], "no images in"),
        (
            [
                "search",
                "--task",
                "digits",
                "--warm-start",
                "nope",
                "--storage",
                "sqlite:///{tmp}/a.db",
            ],
            "--warm-start: no database at",
        ),
        (
            ["search", "--task", "digits", "--warm-start", "digits"],
            "names the study being searched",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOML_STORAGE", f"sqlite:///{tmp_path / 'automl.db'}")
    monkeypatch.delenv("AUTOML_DATA_DIR", raising=False)
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "automl.db").exists()  # nothing stored


def _hash_password(password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "automl.cli", "hash-password"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hash_password_prints_a_hash_the_dashboard_accepts() -> None:
    from dashboard.auth import HASH_VARIABLE, check_password

    result = _hash_password("correct horse battery")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"export {HASH_VARIABLE}='scrypt$") and line.endswith("'")
    encoded = line.split("=", 1)[1].strip("'")
    assert check_password("correct horse battery", encoded)
    assert not check_password("correct horse batterY", encoded)


def test_hash_password_refuses_a_short_one() -> None:
    result = _hash_password("short")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip() == "automl: error: use a password of 8 characters or more"
    assert not result.stdout
