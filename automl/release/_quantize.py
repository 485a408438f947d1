"""int8 models, calibrated on training images and checked against the float model on the
test split: ONNX Runtime's static quantization here, TFLite's full-integer conversion in
``_export``.

For ONNX, QDQ with int8 weights per output channel and uint8 activations (the "U8S8" pair): on this
project's x86 host (AVX-512 VNNI) it ran Fashion-MNIST's CNN 1.3-1.4x faster at batch 64 than
float, where int8 activations ran no faster than float and the QOperator format no faster than
QDQ (BENCHMARKS.md, *int8 models*)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError

#: Training images whose activations set the int8 ranges (MinMax).
CALIBRATION_IMAGES = 512
#: The int8 model may lose this much test accuracy against the float one, no more.
MAX_ACCURACY_DROP = 0.01
#: Test images an int8 model is checked on, in batches (the whole split of most data sets).
MAX_TEST_IMAGES = 10_000
CHUNK = 256
METHODS = {
    "onnx-int8": "ONNX Runtime static quantization (QDQ): int8 weights per output channel, "
    "uint8 activations, ranges from training images (MinMax)",
    "tflite-int8": "TFLite full-integer quantization: int8 weights and activations in every "
    "operation, ranges from training images (representative dataset); float32 in and out",
}


@dataclass(frozen=True)
class Quantization:
    """How an int8 model was made and how it compares with its float model."""

    method: str
    calibration_images: int
    test_images: int
    test_accuracy_float: float
    test_accuracy_int8: float
    top1_agreement: float
    max_abs_diff: float

    def to_json(self) -> dict:
        return asdict(self)


def quantize_onnx(float_path: Path, out: Path, calibration: np.ndarray, scratch: Path) -> None:
    """Write ``out``, the int8 version of the float ONNX model at ``float_path``, its
    activation ranges taken from ``calibration`` (float32 NHWC model inputs)."""
    from onnxruntime import InferenceSession
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = scratch / "prepared.onnx"
    quant_pre_process(str(float_path), str(prepared))  # shapes inferred, graph optimised
    name = InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                {name: np.ascontiguousarray(calibration[i : i + 64], dtype=np.float32)}
                for i in range(0, len(calibration), 64)
            )

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    quantize_static(
        str(prepared), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
    )  # fmt: skip


def compare_on_test_split(
    fmt: str,
    float_model: Callable[[np.ndarray], np.ndarray],
    int8_model: Callable[[np.ndarray], np.ndarray],
    batches: Iterator[tuple[np.ndarray, np.ndarray]],
    calibration_images: int,
) -> Quantization:
    """Test accuracy of both models over ``batches`` of (model inputs, labels); AutoMLError
    when the int8 model loses more than MAX_ACCURACY_DROP."""
    right_float = right_int8 = agree = seen = 0
    max_diff = 0.0
    for images, labels in batches:
        expected, got = float_model(images), int8_model(images)
        right_float += int(np.sum(expected.argmax(axis=1) == labels))
        right_int8 += int(np.sum(got.argmax(axis=1) == labels))
        agree += int(np.sum(expected.argmax(axis=1) == got.argmax(axis=1)))
        max_diff = max(max_diff, float(np.max(np.abs(got - expected))))
        seen += len(labels)
    if seen == 0:
        raise AutoMLError("the study has no test images to check an int8 model on")
    report = Quantization(
        METHODS[fmt], calibration_images, seen, right_float / seen, right_int8 / seen, agree / seen,
        max_diff,
    )  # fmt: skip
    if report.test_accuracy_float - report.test_accuracy_int8 > MAX_ACCURACY_DROP:
        raise AutoMLError(
            f"verification of the {fmt} export failed: test accuracy "
            f"{report.test_accuracy_int8:.4f} against {report.test_accuracy_float:.4f} in float "
            f"(at most {MAX_ACCURACY_DROP:.2f} may be lost); nothing was written"
        )
    return report


def split_batches(
    x_test: np.ndarray, y_test: np.ndarray, model_input: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The test split (up to MAX_TEST_IMAGES) as model inputs, CHUNK at a time: never a
    float copy of the whole split."""
    count = min(len(x_test), MAX_TEST_IMAGES)
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        yield model_input(x_test[start:stop]), np.asarray(y_test[start:stop])


__all__ = [
    "CALIBRATION_IMAGES",
    "MAX_ACCURACY_DROP",
    "Quantization",
    "compare_on_test_split",
    "quantize_onnx",
    "split_batches",
]
