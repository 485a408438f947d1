"""``automl inspect``: parse the flags, inspect the data, print what was found."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from automl.cli._common import (
    Command,
    add_overrides,
    add_storage,
    read_overrides,
    seconds_or_none,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from automl.quality import DEFAULT_FOLDS, DEFAULT_TIMEOUT_S

    parser.add_argument(
        "--study",
        help="a searched study: its data as its search read it, its champion's configuration "
        "for label errors; the findings are stored with it (the dashboard's Data page)",
    )
    parser.add_argument("--task", help="a built-in task, when there is no study yet")
    parser.add_argument(
        "--data-dir",
        "--data",
        type=Path,
        help="your images (a folder of class folders or a .csv/.jsonl manifest), or where "
        "the study's data lives now",
    )
    add_overrides(parser)
    parser.add_argument(
        "--report", type=Path, metavar="FILE.json", help="write the findings here (JSON)"
    )
    parser.add_argument(
        "--suggest",
        type=Path,
        metavar="FILE.csv",
        help="write the fixes inspect is sure of as an overrides CSV (validation and test "
        "copies of training images excluded, the likeliest label errors relabeled)",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help="label errors: models trained, each without one fold (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_or_none,
        default=DEFAULT_TIMEOUT_S,
        help="label errors: seconds for all the folds' training, or 'none' (default %(default)g)",
    )
    parser.add_argument(
        "--no-label-issues",
        action="store_true",
        help="skip the label-error ranking (no training: duplicates and odd images only)",
    )
    add_storage(parser)


def run(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.quality import InspectRequest, describe, run_inspection

    request = InspectRequest(
        storage_url=args.storage,
        study=args.study,
        task=args.task,
        data_dir=args.data_dir,
        overrides=read_overrides(args),
        folds=args.folds,
        timeout_s=args.timeout,
        label_issues=not args.no_label_issues,
        report=args.report,
        suggest=args.suggest,
    )
    # TensorFlow (quietly) only for a study's model: the folds, or its test score.
    quiet_logs(start_tensorflow=args.study is not None)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    inspection = run_inspection(request, log=log)
    print(describe(inspection))
    return 0


COMMANDS = {"inspect": Command("find duplicates, label errors and odd images", add_arguments, run)}

__all__ = ["COMMANDS"]
