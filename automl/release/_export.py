"""Export a trial's model with the ecosystem's own converters, verify it, write its model card."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl._errors import AutoMLError
from automl.release._card import card_markdown, card_paths, model_card
from automl.release._champion import resolve_trial
from automl.release._evaluate import load_study_data
from automl.release._quantize import (
    CALIBRATION_IMAGES,
    Quantization,
    compare_on_test_split,
    quantize_onnx,
    split_batches,
)
from automl.search import sha256_of, verified_artifact
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

    card = model_card(
        store, study_name, trial.number, fmt, out, digest, max_diff, agreement, len(sample)
    )
    if quantization is not None:  # judged on the whole test split, not against a tolerance
        card["quantization"] = quantization.to_json()
    card_json, card_md = card_paths(out)
    _write_atomic(card_json, json.dumps(card, indent=2, default=str) + "\n")
    _write_atomic(card_md, card_markdown(card))
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
    fmt = fmt.removesuffix("-int8")  # an int8 file runs on its float format's runtime
    if fmt in ("keras", "savedmodel"):
        import tensorflow as tf
    if fmt == "keras":
        import keras

        return keras_runtime(keras.models.load_model(path))
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))
        return lambda batch: np.asarray(loaded.serve(tf.constant(batch)))
    if fmt == "tflite":
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
    if fmt == "onnx":
        from automl.release._onnx import OnnxRuntime

        return OnnxRuntime(path, _runtime_threads())
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
