"""Reading and repairing the store: ``automl studies``, ``trials`` and ``doctor``."""

from __future__ import annotations

import argparse

from automl._table import render_table
from automl.cli._common import Command, add_storage, study_store, trials_table
from storage import TrialState, TrialStore


def _studies_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage(parser)


def studies(args: argparse.Namespace) -> int:
    summaries = TrialStore(args.storage, create=False).list_studies()
    if not summaries:
        print("no studies yet: run `automl search --task digits`")
        return 0
    headers = ["study", "task", "trials", "complete", "pruned", "failed", "running", "best val"]
    rows = [
        [
            s.study.name,
            s.study.task,
            s.n_trials,
            s.counts.get(TrialState.COMPLETE, 0),
            s.counts.get(TrialState.PRUNED, 0),
            s.counts.get(TrialState.FAIL, 0),
            s.counts.get(TrialState.RUNNING, 0),
            s.best_value,
        ]
        for s in summaries
    ]
    print(render_table(headers, rows))
    return 0


def _trials_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", required=True)
    parser.add_argument("--state", choices=[s.value for s in TrialState], help="only this state")
    add_storage(parser)


def trials(args: argparse.Namespace) -> int:
    store = TrialStore(args.storage, create=False)
    states = [TrialState(args.state)] if args.state else None
    found = store.trials(args.study, states)
    print(trials_table(found, f"study {args.study!r}: {len(found)} trials").lstrip("\n"))
    class_names = store.get_study(args.study).config.get("class_names")
    if class_names:  # your own images: what the class indices mean
        print(f"\nclasses: {', '.join(class_names)}")
    failed = [t for t in found if t.reason]
    if failed:
        print("\nreasons")
        for t in failed:
            print(f"  trial {t.number} ({t.state.value}): {t.reason}")
    return 0


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", required=True)
    parser.add_argument("--repair", action="store_true", help="fix what can be fixed")
    add_storage(parser)


def doctor(args: argparse.Namespace) -> int:
    """Exit 0 when the study is in order (or was repaired), 1 when problems remain."""
    from automl.search import diagnose, repair

    store = study_store(args)
    findings = diagnose(store, args.study)
    if not findings:
        print(f"study {args.study!r}: nothing to repair")
        return 0
    rows = [[f.kind, f.trial, f.detail, f.repair or "(by hand)"] for f in findings]
    print(render_table(["problem", "trial", "detail", "--repair will"], rows))
    if not args.repair:
        print(f"\n{len(findings)} problems; nothing was changed (run with --repair to fix them)")
        return 1
    for line in repair(store, args.study, findings):
        print(f"repaired: {line}")
    left = diagnose(store, args.study)
    print(f"{len(left)} problems left" + (" (see above: by hand)" if left else ""))
    return 1 if left else 0


COMMANDS = {
    "studies": Command("list the studies in the store", _studies_arguments, studies),
    "trials": Command("list a study's trials", _trials_arguments, trials),
    "doctor": Command(
        "find (and with --repair fix) what a crash left in a study", _doctor_arguments, doctor
    ),
}

__all__ = ["COMMANDS"]
