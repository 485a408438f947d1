"""What every command shares: the parser that exits 2 with one line, the command table's
shape, the --storage flag, opening a study's store, and the trials table."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._table import render_table

if TYPE_CHECKING:
    from automl.data import Overrides
from storage import TrialStore, default_storage_url, fraction_text

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        command = " ".join(self.prog.split()[1:])
        see = f"automl {command} -h" if command else "automl -h"
        self.exit(EXIT_USAGE, f"automl: error: {message} (see {see})\n")


@dataclass(frozen=True)
class Command:
    """One ``automl`` command: its help line, its flags, and what it runs (exit code back)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def defaults_of(config: type) -> dict[str, Any]:
    """A config dataclass's field defaults: the one place a flag's default is written."""

    def default(field: Field) -> Any:
        if field.default is not MISSING:
            return field.default
        if field.default_factory is not MISSING:
            return field.default_factory()
        return None

    return {field.name: default(field) for field in fields(config)}


def seconds_or_none(text: str) -> float | None:
    if text.lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {text!r}") from None


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        default=default_storage_url(),
        help="database URL (default: $AUTOML_STORAGE or sqlite:///automl.db)",
    )


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overrides",
        type=Path,
        metavar="CSV",
        help="fixes to the data: a CSV of path,action,label rows (exclude, relabel, keep; paths "
        "relative to the data folder, or <split>/<index> for a built-in task), as "
        "`automl inspect` and the dashboard's Data page write them",
    )


def read_overrides(args: argparse.Namespace) -> Overrides | None:
    """``--overrides`` read and checked for form (paths and classes are checked against the
    data when it loads); None without it."""
    if args.overrides is None:
        return None
    from automl.data import Overrides

    return Overrides.read(args.overrides)


def study_store(args: argparse.Namespace) -> TrialStore:
    """The existing store, holding ``--study``: a wrong URL or name is one line (exit 2) at
    once, before TensorFlow starts."""
    store = TrialStore(args.storage, create=False)
    store.get_study(args.study)
    return store


def trials_table(trials: Sequence, title: str) -> str:
    headers = ["trial", "phase", "state", "val acc", "test acc", "data", "epochs", "images"]
    headers += ["pruned at", "params", "secs"]
    rows = [
        [
            t.number,
            t.phase,
            t.state.value,
            t.value,
            t.test_accuracy,
            fraction_text(t.data_fraction),
            t.epochs_run,
            t.images_seen or None,
            t.pruned_at_epoch,
            t.param_count,
            f"{t.duration_s:.1f}" if t.duration_s is not None else None,
        ]
        for t in trials
    ]
    return f"\n{title}\n{render_table(headers, rows)}"


__all__ = [
    "EXIT_USAGE",
    "Command",
    "Parser",
    "add_overrides",
    "add_storage",
    "defaults_of",
    "read_overrides",
    "seconds_or_none",
    "study_store",
    "trials_table",
]
