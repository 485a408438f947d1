"""Taking a model out of a study: ``automl evaluate``, ``promote``, ``export`` and
``predict``. Each parses, calls one function of ``automl.release``, prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from automl._table import render_table
from automl.cli._common import Command, add_overrides, add_storage, read_overrides, study_store
from automl.search import default_data_dir
from storage import EvaluationRecord, TrialStore


def _trial_flags(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--study", required=True)
    parser.add_argument("--trial", type=int, help=f"trial number (default: {default})")


def _data_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="where the study's data lives now (default: where the search found it)",
    )


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    _trial_flags(parser, "the best")
    parser.add_argument("--cv", type=int, metavar="K", help="also K-fold cross-validate")
    _data_dir_flag(parser)
    add_overrides(parser)
    add_storage(parser)


def evaluate(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import cross_validate, evaluate_trial, resolve_trial

    overrides = read_overrides(args)
    store = TrialStore(args.storage, create=False)
    trial, because = resolve_trial(store, args.study, args.trial)
    quiet_logs()  # TensorFlow: once the study and trial are known to exist
    fixed = f", with {overrides.describe()}" if overrides else ""
    print(f"evaluating {because} of {args.study!r} on the held-out test split{fixed}")
    record = evaluate_trial(store, args.study, trial.number, args.data_dir, overrides=overrides)
    if args.cv is not None:
        print(
            f"{args.cv}-fold cross-validation: retraining {args.cv} times for {trial.best_epoch} epochs"
        )
        record = cross_validate(store, args.study, trial.number, args.cv, args.data_dir)
    print(evaluation_report(record))
    return 0


def evaluation_report(record: EvaluationRecord) -> str:
    rows = [
        [name, p, r, f, n]
        for name, p, r, f, n in zip(
            record.class_names, record.precision, record.recall, record.f1, record.support
        )
    ]
    data = (
        f" (data fixed by overrides {record.overrides_sha256[:12]})"
        if record.overrides_sha256
        else ""
    )
    lines = [
        f"test accuracy {record.accuracy:.4f}, macro-F1 {record.macro_f1:.4f}{data}",
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


def _promote_arguments(parser: argparse.ArgumentParser) -> None:
    _trial_flags(parser, "the best")
    parser.add_argument("--note", help="why, for the promotion history")
    _data_dir_flag(parser)
    add_storage(parser)


def promote(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import promote_trial

    store = study_store(args)
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


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    _trial_flags(parser, "the champion, else the best")
    parser.add_argument(
        "--format", required=True,
        help="keras, savedmodel, tflite, onnx, onnx-int8 or tflite-int8 (int8: calibrated on "
        "training images, checked on the test split: at most 1 point of accuracy lost)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="the model file (or directory)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    _data_dir_flag(parser)
    add_storage(parser)


def export(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import export_model

    store = study_store(args)
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
        f"verified on {result.verified_images} test images: top-1 agreement "
        f"{result.top1_agreement:.4f}, max probability difference {result.max_abs_diff:.2e}"
    )
    if result.quantization is not None:
        q = result.quantization
        print(
            f"int8 on {q.test_images} test images: accuracy {q.test_accuracy_int8:.4f} "
            f"(float {q.test_accuracy_float:.4f}), top-1 agreement with float "
            f"{q.top1_agreement:.4f}"
        )
    print(f"sha256 {result.sha256}")
    print(f"model card: {result.card_json} and {result.card_md}")
    return 0


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="an exported model (its card beside it)")
    source.add_argument("--study", help="a study: its champion, else its best trial")
    parser.add_argument("--trial", type=int, help="with --study: this trial's model")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    add_storage(parser)


def needs_tensorflow(model: Path) -> bool:
    """An ONNX file is run by ONNX Runtime alone: no TensorFlow, answers in a second or two."""
    return model.suffix != ".onnx"


def predict(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.release import predict_images, predict_study_images

    if args.model is not None:
        quiet_logs(start_tensorflow=needs_tensorflow(args.model))
        predictions = predict_images(args.model, args.images)
    else:
        store = study_store(args)
        try:
            quiet_logs()
            predictions, why = predict_study_images(store, args.study, args.trial, args.images)
        finally:
            store.close()
        print(f"{args.study!r}, {why}:", file=sys.stderr)
    for p in predictions:
        print(f"{p.image}: {p.label} ({p.probability:.4f})")
    return 0


COMMANDS = {
    "evaluate": Command("score a trial's model on the test split", _evaluate_arguments, evaluate),
    "promote": Command("make a trial the study's champion", _promote_arguments, promote),
    "export": Command("write a verified model file and its model card", _export_arguments, export),
    "predict": Command(
        "classify image files with an exported model or a study's champion",
        _predict_arguments,
        predict,
    ),
}

__all__ = ["COMMANDS", "evaluation_report", "needs_tensorflow"]
