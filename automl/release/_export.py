"""Export a trial's model with the ecosystem's own converters, verify it, write its model card."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from automl._errors import AutoMLError
from automl.release._champion import resolve_trial
from automl.release._evaluate import load_study_data
from automl.release._quantize import (
    CALIBRATION_IMAGES,
    Quantization,
    compare_on_test_split,
    quantize_onnx,
    split_batches,
)
from automl.search import SEARCH_SPACE_VERSION, open_study_task, sha256_of, verified_artifact
from storage import TrialStore

#: A model loaded with its runtime: a float32 NHWC batch -> class probabilities.
Runtime = Callable[[np.ndarray], np.ndarray]

FORMATS = ("keras", "savedmodel", "tflite", "onnx", "onnx-int8", "tflite-int8")
SUFFIXES = {
    "keras": ".keras", "tflite": ".tflite", "onnx": ".onnx", "onnx-int8": ".int8.onnx",
    "tflite-int8": ".int8.tflite", "savedmodel": "",
}  # fmt: skip
#: Threads a loaded model's runtime may use (unset: the runtime's own choice, all cores);
#: ``automl serve --workers N`` divides the cores among its workers through it.
RUNTIME_THREADS_ENV = "AUTOML_RUNTIME_THREADS"
#: Formats quantized to int8: calibrated on training images, judged on the test split.
INT8_FORMATS = ("onnx-int8", "tflite-int8")
VERIFY_IMAGES = 256
MAX_ABS_DIFF = 1e-4
PACKAGES = ("tensorflow", "keras", "optuna", "numpy", "tf2onnx", "onnx", "onnxruntime")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card_json: Path
    card_md: Path
    format: str
    trial_number: int
    chosen_because: str
    sha256: str
    max_abs_diff: float
    top1_agreement: float
    #: Test images the file was checked on against the Keras model (up to VERIFY_IMAGES).
    verified_images: int
    #: An int8 model's comparison with its float model on the test split.
    quantization: Quantization | None = None


def card_paths(model_path: Path) -> tuple[Path, Path]:
    """``model.tflite`` -> ``model.tflite.card.json``: each format of one model keeps its card."""
    return (
        model_path.with_name(f"{model_path.name}.card.json"),
        model_path.with_name(f"{model_path.name}.card.md"),
    )


def path_sha256(path: Path) -> str:
    """A file's sha256; for a directory (SavedModel), one over its files' names and hashes."""
    if path.is_file():
        return sha256_of(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{sha256_of(file)}\n".encode())
    return digest.hexdigest()


def export_model(
    store: TrialStore,
    study_name: str,
    fmt: str,
    out: Path,
    *,
    number: int | None = None,
    force: bool = False,
    data_dir: Path | None = None,
    record_as: str | None = None,
) -> ExportResult:
    """Export, verify and record the export; ``record_as`` names the destination in the store
    when ``out`` is only a staging place (the dashboard's download)."""
    if fmt not in FORMATS:
        raise AutoMLError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    _check_destination(out, force)
    trial, because = resolve_trial(store, study_name, number, prefer_champion=True)
    _, model_file = verified_artifact(store, study_name, trial.number)
    study = store.get_study(study_name)
    data = load_study_data(study, data_dir)

    import keras

    model = keras.models.load_model(model_file)
    sample = data.model_input(data.x_test[:VERIFY_IMAGES])
    expected = np.asarray(model.predict(sample, verbose=0))
    quantization: Quantization | None = None
    with tempfile.TemporaryDirectory(prefix=".automl-export-", dir=out.parent) as scratch:
        staged = Path(scratch) / f"model{SUFFIXES[fmt]}"
        try:
            if fmt in INT8_FORMATS:
                calibration = data.model_input(data.x_train[:CALIBRATION_IMAGES])
                if fmt == "onnx-int8":
                    float_path = Path(scratch) / "float.onnx"
                    _write_onnx(model, float_path, Path(scratch))
                    quantize_onnx(float_path, staged, calibration, Path(scratch))
                else:
                    _write_tflite(model, staged, Path(scratch), calibration)
                quantization = compare_on_test_split(
                    fmt, keras_runtime(model), load_runtime(staged, fmt),
                    split_batches(data.x_test, data.y_test, data.model_input), len(calibration),
                )  # fmt: skip
            else:
                _WRITERS[fmt](model, staged, Path(scratch))
            got = predict_with(staged, fmt, sample)
        except AutoMLError:
            raise
        except Exception as exc:  # a converter or runtime that cannot handle this model
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise AutoMLError(
                f"the {fmt} export of trial {trial.number} failed: {type(exc).__name__}: "
                f"{reason}; nothing was written"
            ) from None
        max_diff = float(np.max(np.abs(got - expected)))
        agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
        if quantization is None and (agreement < 1.0 or not max_diff < MAX_ABS_DIFF):
            raise AutoMLError(
                f"verification of the {fmt} export failed: top-1 agreement {agreement:.4f}, "
                f"max |p - p_keras| {max_diff:.2e} (limit {MAX_ABS_DIFF:g}); nothing was written"
            )
        digest = path_sha256(staged)
        if out.exists() and force:
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(staged, out)  # same directory: an atomic rename, never a half-written model
    keras.backend.clear_session()
    size = out.stat().st_size if out.is_file() else sum(p.stat().st_size for p in out.rglob("*"))
    store.record_export(
        study_name, trial.number, fmt, record_as or str(out.resolve()), digest, size
    )

    card = _model_card(
        store, study_name, trial.number, fmt, out, digest, max_diff, agreement, len(sample)
    )
    if quantization is not None:  # judged on the whole test split, not against a tolerance
        card["quantization"] = quantization.to_json()
    card_json, card_md = card_paths(out)
    _write_atomic(card_json, json.dumps(card, indent=2, default=str) + "\n")
    _write_atomic(card_md, _card_markdown(card))
    return ExportResult(
        out,
        card_json,
        card_md,
        fmt,
        trial.number,
        because,
        digest,
        max_diff,
        agreement,
        len(sample),
        quantization,
    )


def _check_destination(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise AutoMLError(f"{out} already exists; pass --force to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise AutoMLError(f"directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AutoMLError(f"directory {parent} is not writable")


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


# ----------------------------------------------------------------------------- writers
def _write_keras(model: Any, path: Path, scratch: Path) -> None:
    model.save(path)


def _write_savedmodel(model: Any, path: Path, scratch: Path) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)


def _write_tflite(
    model: Any, path: Path, scratch: Path, calibration: np.ndarray | None = None
) -> None:
    """A TFLite model; with ``calibration`` (model inputs), full-integer: int8 weights and
    activations in every operation, ranges from those images, float32 in and out."""
    import tensorflow as tf

    saved = scratch / "savedmodel-for-tflite"
    model.export(str(saved), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [calibration[i : i + 1]] for i in range(len(calibration))
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path.write_bytes(converter.convert())
    shutil.rmtree(saved)


def _write_onnx(model: Any, path: Path, scratch: Path) -> None:
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise AutoMLError(
            f"ONNX export needs tf2onnx and onnx ({exc}): pip install tf2onnx onnx"
        ) from None
    model.export(str(path), format="onnx", verbose=False)


_WRITERS = {
    "keras": _write_keras,
    "savedmodel": _write_savedmodel,
    "tflite": _write_tflite,
    "onnx": _write_onnx,
}


# ----------------------------------------------------------------------------- readers
def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise AutoMLError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
    for fmt, suffix in SUFFIXES.items():
        if suffix and path.suffix == suffix:
            return fmt
    raise AutoMLError(
        f"cannot tell the format of {path}; expected .keras, .tflite, .onnx or a SavedModel directory"
    )


def load_runtime(path: Path, fmt: str) -> Runtime:
    """An exported model loaded once with its own runtime: a function from a float32 NHWC
    batch to class probabilities (not re-entrant for TFLite and Keras: callers serialise)."""
    if fmt in ("keras", "savedmodel"):
        import tensorflow as tf
    if fmt == "keras":
        import keras

        return keras_runtime(keras.models.load_model(path))
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))
        return lambda batch: np.asarray(loaded.serve(tf.constant(batch)))
    if fmt in ("tflite", "tflite-int8"):
        from ai_edge_litert.interpreter import Interpreter  # LiteRT: tf.lite's is deprecated

        from automl._quiet import silenced_native_stderr

        with silenced_native_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(model_path=str(path), num_threads=_runtime_threads())
        inp = interpreter.get_input_details()[0]["index"]
        out = interpreter.get_output_details()[0]["index"]

        def run(batch: np.ndarray) -> np.ndarray:
            interpreter.resize_tensor_input(inp, batch.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp, batch)
            interpreter.invoke()
            return np.array(interpreter.get_tensor(out))

        return run
    if fmt in ("onnx", "onnx-int8"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads := _runtime_threads():
            options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        return lambda batch: np.asarray(session.run(None, {name: batch})[0])
    raise AutoMLError(f"unknown format {fmt!r}")


def _runtime_threads() -> int | None:
    value = os.environ.get(RUNTIME_THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def keras_runtime(model) -> Runtime:
    """A loaded Keras model as a runtime (not re-entrant: callers serialise)."""
    return lambda batch: np.asarray(model.predict_on_batch(batch))


def predict_with(path: Path, fmt: str, images: np.ndarray) -> np.ndarray:
    """Class probabilities from an exported model, loaded with its own runtime."""
    return load_runtime(path, fmt)(np.ascontiguousarray(images, dtype=np.float32))


# ------------------------------------------------------------------------------- card
def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _model_card(
    store: TrialStore,
    study_name: str,
    number: int,
    fmt: str,
    path: Path,
    digest: str,
    max_diff: float,
    agreement: float,
    verified_images: int,
) -> dict[str, Any]:
    study = store.get_study(study_name)
    trial = store.trial(study_name, number)
    evaluation = store.evaluation(study_name, number)
    task = open_study_task(study.task, study.config)
    height, width, channels = task.input_shape
    return {
        "model": {"file": path.name, "format": fmt, "sha256": digest},
        "task": task.name,
        "class_names": list(task.class_names),
        "input": {
            "shape": [None, height, width, channels],
            "dtype": "float32",
            "layout": "NHWC (batch, height, width, channels)",
        },
        "preprocessing": {
            "color": "grayscale (1 channel)" if channels == 1 else "RGB (3 channels)",
            "resize": [height, width],
            "scale": "divide 8-bit pixel values by 255 to get floats in [0, 1]",
            "training_data_scale": f"raw {task.name} values 0..{task.pixel_max:g} mapped to [0, 1]",
            # How `automl predict` (and the training cache) turned files into inputs.
            "image": task.image_options().to_json(),
        },
        "output": "softmax probabilities over class_names",
        "study": study.name,
        "trial": number,
        "search_space_version": study.search_space_version or SEARCH_SPACE_VERSION,
        "parameters": trial.params,
        "parameter_count": trial.param_count,
        "backbone": _backbone_card(trial.params or {}),
        "metrics": {
            "validation_accuracy": trial.value,
            "best_epoch": trial.best_epoch,
            "test_accuracy": evaluation.accuracy if evaluation else trial.test_accuracy,
            "test_macro_f1": evaluation.macro_f1 if evaluation else None,
            "per_class": (
                {
                    name: {"precision": p, "recall": r, "f1": f}
                    for name, p, r, f in zip(
                        evaluation.class_names,
                        evaluation.precision,
                        evaluation.recall,
                        evaluation.f1,
                    )
                }
                if evaluation
                else None
            ),
            "cross_validation": (
                {"folds": evaluation.cv_folds, "mean": evaluation.cv_mean, "std": evaluation.cv_std}
                if evaluation and evaluation.cv_folds
                else None
            ),
        },
        "latency": {
            "ms_per_image_batch1": evaluation.latency_ms_batch1 if evaluation else None,
            "images_per_s_batch256": evaluation.throughput_batch256 if evaluation else None,
            "measured_with": "Keras on the machine that ran `automl evaluate`",
        },
        "verification": {
            "images": verified_images,
            "top1_agreement": agreement,
            "max_abs_probability_diff": max_diff,
        },
        "packages": _versions(),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _backbone_card(params: dict[str, Any]) -> dict[str, Any] | None:
    """The pretrained network the model starts from, and which weights: ``None`` for a CNN
    trained from scratch."""
    from automl.backbones import SCRATCH, get_backbone

    name = params.get("backbone", SCRATCH)
    if name == SCRATCH:
        return None
    backbone = get_backbone(name)
    return {
        "name": name,
        "weights": backbone.source,
        "weights_file": backbone.weights_file,
        "weights_sha256": backbone.sha256,
        "input_side": params.get("resolution"),
        #: 0: the backbone as trained on ImageNet; else its last blocks were fine-tuned.
        "fine_tuned_blocks": int(params.get("fine_tuned_blocks", 0)),
    }


def _card_markdown(card: dict[str, Any]) -> str:
    metrics = card["metrics"]

    def pct(value: float | None) -> str:
        return f"{100 * value:.2f}%" if value is not None else "not evaluated"

    lines = [
        f"# Model card: {card['study']} / trial {card['trial']}",
        "",
        f"- **File**: `{card['model']['file']}` ({card['model']['format']}), "
        f"sha256 `{card['model']['sha256']}`",
        f"- **Task**: {card['task']} ({len(card['class_names'])} classes: "
        f"{', '.join(card['class_names'])})",
        f"- **Input**: float32, shape {card['input']['shape']}, {card['input']['layout']}",
        f"- **Preprocessing**: {card['preprocessing']['color']}, resize to "
        f"{card['preprocessing']['resize'][0]}x{card['preprocessing']['resize'][1]}, "
        f"{card['preprocessing']['scale']}",
        f"- **Output**: {card['output']}",
        "",
        "## Metrics",
        "",
        f"- Validation accuracy: {pct(metrics['validation_accuracy'])} "
        f"(best epoch {metrics['best_epoch']})",
        f"- Test accuracy: {pct(metrics['test_accuracy'])}",
        f"- Test macro-F1: {pct(metrics['test_macro_f1'])}",
    ]
    if metrics["cross_validation"]:
        cv = metrics["cross_validation"]
        lines.append(f"- {cv['folds']}-fold cross-validation: {pct(cv['mean'])} ± {pct(cv['std'])}")
    if card["latency"]["ms_per_image_batch1"] is not None:
        lines.append(
            f"- Latency: {card['latency']['ms_per_image_batch1']:.2f} ms/image at batch 1, "
            f"{card['latency']['images_per_s_batch256']:.0f} images/s at batch 256"
        )
    if metrics["per_class"]:
        lines += ["", "| class | precision | recall | F1 |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |"
            for name, m in metrics["per_class"].items()
        ]
    lines += ["", "## Provenance", ""]
    if card.get("backbone"):
        backbone = card["backbone"]
        tuned = backbone["fine_tuned_blocks"]
        how = f"last {tuned} blocks fine-tuned" if tuned else "frozen"
        lines.append(
            f"- **Backbone**: {backbone['name']} ({how}, images resized to "
            f"{backbone['input_side']} px inside the model); weights: {backbone['weights']}, "
            f"`{backbone['weights_file']}` sha256 `{backbone['weights_sha256']}`"
        )
    lines += [
        f"- Parameters ({card['parameter_count']:,} weights): "
        + ", ".join(f"{k}={v}" for k, v in card["parameters"].items()),
        f"- Search space version {card['search_space_version']}",
        f"- Verified on {card['verification']['images']} test images: top-1 agreement "
        f"{card['verification']['top1_agreement']:.4f}, max probability difference "
        f"{card['verification']['max_abs_probability_diff']:.2e}",
    ]
    if card.get("quantization"):
        q = card["quantization"]
        lines.append(
            f"- **Quantized**: {q['method']}, {q['calibration_images']} calibration images; "
            f"on {q['test_images']} test images: accuracy {pct(q['test_accuracy_int8'])} "
            f"(float {pct(q['test_accuracy_float'])}), top-1 agreement with float "
            f"{q['top1_agreement']:.4f}"
        )
    lines += [
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in card["packages"].items()),
        f"- Exported {card['exported_at']}",
        "",
    ]
    return "\n".join(lines)
