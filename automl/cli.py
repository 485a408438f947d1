"""The ``automl`` command. Bad input: one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from automl._config import SearchConfig, default_data_dir, default_storage_url
from automl._errors import AutoMLError
from automl._table import fmt, render_table
from storage import StorageError, TrialState, TrialStore

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"automl: error: {message} (see automl {self.prog.split()[-1]} -h)\n")


def _positive_or_none(text: str) -> float | None:
    if text.lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {text!r}") from None


def _add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        default=default_storage_url(),
        help="database URL (default: $AUTOML_STORAGE or sqlite:///automl.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="automl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    search = commands.add_parser("search", help="run (or resume) a study")
    search.add_argument("--task", required=True, help="mnist, fashion_mnist, cifar10 or digits")
    search.add_argument("--study", help="study name (default: the task name)")
    search.add_argument("--trials", type=int, default=20, help="trials in the study (default 20)")
    search.add_argument(
        "--timeout",
        type=_positive_or_none,
        default=600.0,
        help="seconds for this run, or 'none' (default 600)",
    )
    search.add_argument("--epochs", type=int, default=10, help="max epochs per trial (default 10)")
    search.add_argument("--patience", type=int, default=3, help="early-stopping patience")
    _add_storage(search)
    search.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help="local IDX or .npz files"
    )
    search.add_argument("--artifacts", type=Path, help="model directory (default: next to the DB)")
    search.add_argument("--keep-best", type=int, default=3, help="saved models to keep")
    search.add_argument("--max-params", type=int, default=2_000_000, help="parameter-count cap")
    search.add_argument("--validation-fraction", type=float, default=0.1)
    search.add_argument("--seed", type=int, default=42)
    search.add_argument("--sampler", default="tpe", help="tpe, random, cmaes or gp")
    search.add_argument("--pruner", default="hyperband", help="hyperband, median, sha or none")
    search.add_argument(
        "--no-default-start",
        action="store_true",
        help="do not try the built-in strong configuration first",
    )
    search.add_argument(
        "--trials-per-worker",
        type=int,
        default=10,
        help="trials before the worker process is replaced (bounds memory; default 10)",
    )
    search.add_argument("--verbose", action="store_true", help="per-epoch lines")

    studies = commands.add_parser("studies", help="list the studies in the store")
    _add_storage(studies)

    trials = commands.add_parser("trials", help="list a study's trials")
    trials.add_argument("--study", required=True)
    trials.add_argument("--state", choices=[s.value for s in TrialState], help="only this state")
    _add_storage(trials)
    return parser


def _search(args: argparse.Namespace) -> int:
    from automl._study import run_search

    config = SearchConfig(
        task=args.task,
        study_name=args.study,
        trials=args.trials,
        timeout_s=args.timeout,
        epochs=args.epochs,
        patience=args.patience,
        storage_url=args.storage,
        data_dir=args.data_dir,
        artifacts_dir=args.artifacts,
        keep_best=args.keep_best,
        max_params=args.max_params,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        sampler=args.sampler,
        pruner=args.pruner,
        enqueue_default=not args.no_default_start,
        trials_per_worker=args.trials_per_worker,
        verbose=args.verbose,
    )
    result = run_search(config)
    counts = {state: 0 for state in TrialState}
    for trial in result.trials:
        counts[trial.state] += 1
    print(
        f"\nstudy {result.study_name!r}: "
        + ", ".join(f"{n} {s.value.lower()}" for s, n in counts.items() if n)
        + f" in {result.seconds:.0f} s"
    )
    ranked = sorted(
        (t for t in result.trials if t.state is TrialState.COMPLETE and t.value is not None),
        key=lambda t: -t.value,  # type: ignore[operator]
    )
    print(_trials_table(ranked[:5], "top trials"))
    if result.best is None:
        print("no trial completed: no model to score")
        return 0
    print(
        f"\nbest trial {result.best.number}: validation accuracy {result.best.value:.4f}, "
        f"test accuracy {fmt(result.test_accuracy)} (held-out test set, scored once)"
    )
    print(f"best model: {result.model_path}")
    return 0


def _trials_table(trials: Sequence, title: str) -> str:
    headers = ["trial", "state", "val acc", "test acc", "epochs", "pruned at", "params", "secs"]
    rows = [
        [
            t.number,
            t.state.value,
            t.value,
            t.test_accuracy,
            t.epochs_run,
            t.pruned_at_epoch,
            t.param_count,
            f"{t.duration_s:.1f}" if t.duration_s is not None else None,
        ]
        for t in trials
    ]
    return f"\n{title}\n{render_table(headers, rows)}"


def _studies(args: argparse.Namespace) -> int:
    store = TrialStore(args.storage, create=False)
    summaries = store.list_studies()
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


def _trials(args: argparse.Namespace) -> int:
    store = TrialStore(args.storage, create=False)
    states = [TrialState(args.state)] if args.state else None
    trials = store.trials(args.study, states)
    print(_trials_table(trials, f"study {args.study!r}: {len(trials)} trials").lstrip("\n"))
    failed = [t for t in trials if t.reason]
    if failed:
        print("\nreasons")
        for t in failed:
            print(f"  trial {t.number} ({t.state.value}): {t.reason}")
    return 0


COMMANDS = {"search": _search, "studies": _studies, "trials": _trials}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (AutoMLError, StorageError) as exc:
        print(f"automl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "\nautoml: interrupted; the running trial was closed. Re-run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
