"""The ``automl`` command. Bad input: one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from automl._errors import AutoMLError, Terminated, stop_on_sigterm
from automl._table import fmt, render_table
from automl.search import SearchConfig, default_data_dir
from storage import (
    StorageError,
    TrialRecord,
    TrialState,
    TrialStore,
    default_storage_url,
    fraction_text,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
HELPER_GRACE_S = 10


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
    search.add_argument(
        "--timeout",
        type=_positive_or_none,
        default=600.0,
        help="seconds for this run, or 'none' (default 600)",
    )
    search.add_argument(
        "--final-share",
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
    search.add_argument("--epochs", type=int, default=15, help="max epochs per trial (default 15)")
    search.add_argument("--patience", type=int, default=3, help="early-stopping patience")
    _add_storage(search)
    search.add_argument(
        "--data-dir",
        "--data",
        type=Path,
        default=default_data_dir(),
        help="your images (a folder of class folders, or a .csv/.jsonl manifest of "
        "path,label[,split]), or a built-in task's local IDX/.npz files",
    )
    images = search.add_argument_group("your own images")
    images.add_argument("--image-size", type=int, help="side in pixels (default: automatic)")
    images.add_argument(
        "--color-mode",
        default="auto",
        help="auto (greyscale only if every image is), grayscale, rgb",
    )
    images.add_argument(
        "--resize", default="pad", help="pad (default: keep the whole image), crop or stretch"
    )
    images.add_argument(
        "--background",
        default="white",
        help="fills transparency and padding (name, #rrggbb, r,g,b)",
    )
    images.add_argument(
        "--test-fraction", type=float, default=0.1, help="held-out share of unsplit images"
    )
    images.add_argument(
        "--no-flip",
        action="store_true",
        help="never mirror images in augmentation (text, left/right-sensitive images)",
    )
    search.add_argument(
        "--class-weight", default="none", help="none (default) or balanced, for imbalanced classes"
    )
    search.add_argument(
        "--artifacts",
        help="where models go: a folder or s3://bucket/prefix (default: next to the DB)",
    )
    search.add_argument("--keep-best", type=int, default=3, help="saved models to keep")
    search.add_argument("--max-params", type=int, default=2_000_000, help="parameter-count cap")
    search.add_argument("--validation-fraction", type=float, default=0.1)
    search.add_argument("--seed", type=int, default=42)
    search.add_argument("--sampler", default="tpe", help="tpe, random, cmaes or gp")
    search.add_argument(
        "--pruner", default="auto", help="auto (default), hyperband, median, sha or none"
    )
    search.add_argument(
        "--warm-start",
        metavar="STUDY",
        help="screen the best configurations of an earlier study (same search space) first",
    )
    search.add_argument(
        "--no-default-start",
        action="store_true",
        help="do not screen the built-in known-good configurations first",
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
    doctor = commands.add_parser(
        "doctor", help="find (and with --repair fix) what a crash left in a study"
    )
    doctor.add_argument("--study", required=True)
    doctor.add_argument("--repair", action="store_true", help="fix what can be fixed")
    _add_storage(doctor)

    evaluate = commands.add_parser("evaluate", help="score a trial's model on the test split")
    evaluate.add_argument("--study", required=True)
    evaluate.add_argument("--trial", type=int, help="trial number (default: the best)")
    evaluate.add_argument("--cv", type=int, metavar="K", help="also K-fold cross-validate")
    evaluate.add_argument("--data-dir", type=Path, default=default_data_dir())
    _add_storage(evaluate)

    promote = commands.add_parser("promote", help="make a trial the study's champion")
    promote.add_argument("--study", required=True)
    promote.add_argument("--trial", type=int, help="trial number (default: the best)")
    promote.add_argument("--note", help="why, for the promotion history")
    promote.add_argument("--data-dir", type=Path, default=default_data_dir())
    _add_storage(promote)

    export = commands.add_parser("export", help="write a verified model file and its model card")
    export.add_argument("--study", required=True)
    export.add_argument("--trial", type=int, help="trial number (default: champion, else best)")
    export.add_argument("--format", required=True, help="keras, savedmodel, tflite or onnx")
    export.add_argument("--out", type=Path, required=True, help="the model file (or directory)")
    export.add_argument("--force", action="store_true", help="replace an existing --out")
    export.add_argument("--data-dir", type=Path, default=default_data_dir())
    _add_storage(export)

    predict = commands.add_parser(
        "predict", help="classify image files with an exported model or a study's champion"
    )
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="an exported model (its card beside it)")
    source.add_argument("--study", help="a study: its champion, else its best trial")
    predict.add_argument("--trial", type=int, help="with --study: this trial's model")
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    _add_storage(predict)

    serve = commands.add_parser(
        "serve", help="answer predictions over HTTP (KServe v2, TF Serving REST, /predict)"
    )
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--study", help="serve the study's champion, and follow it when it changes")
    source.add_argument("--model", type=Path, help="an exported model (its card beside it)")
    serve.add_argument("--host", default="127.0.0.1", help="another address needs --token-file")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--runtime",
        default="onnx",
        choices=("onnx", "tflite", "keras"),
        help="onnx, tflite or keras: what runs a --study's champion (BENCHMARKS.md)",
    )
    serve.add_argument("--token-file", type=Path, help="a file holding the bearer token")
    serve.add_argument(
        "--batch-window-ms",
        type=float,
        default=2.0,
        help="concurrent requests share one model call, waiting up to this long (0: off; "
        "2 ms gave 3-10%% more requests per second in bench/bench_serve.py)",
    )
    serve.add_argument(
        "--no-auth", action="store_true", help="off loopback, serve without a token (not advised)"
    )
    serve.add_argument(
        "--keep-inputs",
        type=Path,
        metavar="DIR",
        help="save each answered request's inputs (as the model saw them) as DIR/<request id>.npy",
    )
    _add_storage(serve)

    dashboard = commands.add_parser("dashboard", help="serve the results dashboard")
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="0.0.0.0 opens it to the network, read-only until a viewer signs in",
    )
    dashboard.add_argument("--port", type=int, default=8501)
    _add_storage(dashboard)
    commands.add_parser(
        "hash-password", help="the dashboard password's hash, for AUTOML_DASHBOARD_PASSWORD_HASH"
    )
    return parser


def _search(args: argparse.Namespace) -> int:
    from automl import run_search
    from automl.data import IMAGES_TASK, ImageOptions, get_task, parse_background

    task = args.task or (IMAGES_TASK if args.data_dir else "mnist")
    images = None
    if task == IMAGES_TASK:  # bad options fail here, before anything is read
        images = ImageOptions(
            image_size=args.image_size,
            color_mode=args.color_mode,
            resize=args.resize,
            background=parse_background(args.background),
            test_fraction=args.test_fraction,
            horizontal_flip=not args.no_flip,
        ).to_json()
    else:
        get_task(task)  # an unknown task fails here, before TensorFlow is imported
    study = args.study
    if study is None and task == IMAGES_TASK:  # named after the folder (or manifest)
        source = Path(args.data_dir).expanduser().resolve()
        study = re.sub(r"[^A-Za-z0-9_.\-]", "_", source.stem if source.is_file() else source.name)
    config = SearchConfig(
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
    )
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
    print(_trials_table(ranked[:5], "top trials"))
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


def _trials_table(trials: Sequence, title: str) -> str:
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
    class_names = store.get_study(args.study).config.get("class_names")
    if class_names:  # your own images: what the class indices mean
        print(f"\nclasses: {', '.join(class_names)}")
    failed = [t for t in trials if t.reason]
    if failed:
        print("\nreasons")
        for t in failed:
            print(f"  trial {t.number} ({t.state.value}): {t.reason}")
    return 0


def _study_store(args: argparse.Namespace) -> TrialStore:
    """The existing store, holding ``--study``: a wrong URL or name is one line (exit 2) at
    once, before TensorFlow starts."""
    store = TrialStore(args.storage, create=False)
    store.get_study(args.study)
    return store


def _doctor(args: argparse.Namespace) -> int:
    """Exit 0 when the study is in order (or was repaired), 1 when problems remain."""
    from automl.search import diagnose, repair

    store = _study_store(args)
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


def _evaluate(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import cross_validate, evaluate_trial, resolve_trial

    store = TrialStore(args.storage, create=False)
    trial, because = resolve_trial(store, args.study, args.trial)
    quiet_logs()  # TensorFlow: once the study and trial are known to exist
    print(f"evaluating {because} of {args.study!r} on the held-out test split")
    record = evaluate_trial(store, args.study, trial.number, args.data_dir)
    if args.cv is not None:
        print(
            f"{args.cv}-fold cross-validation: retraining {args.cv} times for {trial.best_epoch} epochs"
        )
        record = cross_validate(store, args.study, trial.number, args.cv, args.data_dir)
    print(evaluation_report(record))
    return 0


def evaluation_report(record) -> str:
    rows = [
        [name, p, r, f, n]
        for name, p, r, f, n in zip(
            record.class_names, record.precision, record.recall, record.f1, record.support
        )
    ]
    lines = [
        f"test accuracy {record.accuracy:.4f}, macro-F1 {record.macro_f1:.4f}",
        render_table(["class", "precision", "recall", "F1", "support"], rows),
        "confusion matrix (rows: true class, columns: predicted)",
        render_table(
            ["", *[name[:10] for name in record.class_names]],
            [[name[:10], *row] for name, row in zip(record.class_names, record.confusion)],
        ),
    ]
    if record.latency_ms_batch1 is not None:
        lines.append(
            f"latency {record.latency_ms_batch1:.2f} ms/image at batch 1, "
            f"{record.throughput_batch256:.0f} images/s at batch 256"
        )
    if record.cv_folds:
        scores = ", ".join(f"{s:.4f}" for s in record.cv_scores or [])
        lines.append(
            f"{record.cv_folds}-fold cross-validation: {record.cv_mean:.4f} ± {record.cv_std:.4f} ({scores})"
        )
    return "\n".join(lines)


def _promote(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import promote_trial

    store = _study_store(args)
    quiet_logs()
    promotion, because = promote_trial(store, args.study, args.trial, args.note, args.data_dir)
    previous = (
        f" (was trial {promotion.previous_trial_number})"
        if promotion.previous_trial_number is not None
        else ""
    )
    evaluation = store.evaluation(args.study, promotion.trial_number)
    print(
        f"promoted {because} to champion of {args.study!r}{previous}: "
        f"test accuracy {evaluation.accuracy:.4f}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import export_model

    store = _study_store(args)
    quiet_logs()
    result = export_model(
        store,
        args.study,
        args.format,
        args.out,
        number=args.trial,
        force=args.force,
        data_dir=args.data_dir,
    )
    print(f"exported {result.chosen_because} of {args.study!r} as {result.format}: {result.path}")
    print(
        f"verified on 256 test images: top-1 agreement {result.top1_agreement:.4f}, "
        f"max probability difference {result.max_abs_diff:.2e}"
    )
    print(f"sha256 {result.sha256}")
    print(f"model card: {result.card_json} and {result.card_md}")
    return 0


def _needs_tensorflow(model: Path) -> bool:
    """An ONNX file is run by ONNX Runtime alone: no TensorFlow, answers in a second or two."""
    return model.suffix != ".onnx"


def _predict(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import predict_images

    if args.model is not None:
        quiet_logs(start_tensorflow=_needs_tensorflow(args.model))
        predictions = predict_images(args.model, args.images)
    else:
        from automl.release import predict_study_images

        store = _study_store(args)
        try:
            quiet_logs()
            predictions, why = predict_study_images(store, args.study, args.trial, args.images)
        finally:
            store.close()
        print(f"{args.study!r}, {why}:", file=sys.stderr)
    for p in predictions:
        print(f"{p.image}: {p.label} ({p.probability:.4f})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.serve import model_holder, read_token, serve

    if not 0 < args.port < 65536:
        raise AutoMLError(f"--port must be 1-65535, got {args.port}")
    if not 0 <= args.batch_window_ms <= 1000:
        raise AutoMLError(f"--batch-window-ms must be 0-1000, got {args.batch_window_ms:g}")
    token = read_token(args.token_file, args.host, args.no_auth)
    if args.keep_inputs is not None:
        try:
            args.keep_inputs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AutoMLError(f"--keep-inputs {args.keep_inputs}: {exc.strerror}") from None
    store = TrialStore(args.storage)  # the prediction log goes here, also for --model
    if args.study is not None:
        store.get_study(args.study)
    if args.model is not None:
        quiet_logs(start_tensorflow=_needs_tensorflow(args.model))
        holder = model_holder(model_path=args.model)
    else:
        # On ONNX Runtime a champion starts TensorFlow only to be converted when it is not in
        # the cache yet (``ServedModel.from_study``): a restarted server runs without it.
        quiet_logs(start_tensorflow=args.runtime != "onnx")
        holder = model_holder(store=store, study=args.study, runtime=args.runtime)
    try:
        serve(holder, args.host, args.port, token, store, args.batch_window_ms, args.keep_inputs)
    finally:
        store.close()
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    """The dashboard's own sign-in module makes the hash (the CLI does not import the
    dashboard: data flows into it, not out of it)."""
    import subprocess

    return subprocess.call([sys.executable, "-m", "dashboard.auth"])


def _dashboard(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from automl.serve import is_loopback  # the same rule as automl serve's

    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = dict(os.environ, AUTOML_STORAGE=args.storage)
    env["AUTOML_DASHBOARD_PUBLIC"] = "0" if is_loopback(args.host) else "1"
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", args.host,
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button
        "--server.enableXsrfProtection", "true",
    ]  # fmt: skip
    print(f"dashboard on http://{args.host}:{args.port} reading {args.storage}")
    return subprocess.call(command, env=env)


COMMANDS = {
    "search": _search,
    "studies": _studies,
    "trials": _trials,
    "doctor": _doctor,
    "evaluate": _evaluate,
    "promote": _promote,
    "export": _export,
    "predict": _predict,
    "serve": _serve,
    "dashboard": _dashboard,
    "hash-password": _hash_password,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for --workers' helpers
    stop_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except (AutoMLError, StorageError) as exc:
        print(f"automl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(
            f"\nautoml: {'terminated' if terminated else 'interrupted'}; the running trial was "
            "closed. Re-run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
