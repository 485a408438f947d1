"""ONNX Runtime as `automl serve` and `automl predict` run it: short calls on one thread, long
ones on the thread pool, the same answers either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from automl.release._onnx import SHORT_CALL_S, OnnxRuntime


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4x4x1 image classifier of three classes: flatten, one dense layer, softmax."""
    weights = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4, 4, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, path)
    return path


def _calls(session) -> list[int]:
    """The batch sizes ``session`` runs from now on."""
    sizes: list[int] = []
    run = session.run

    def counted(outputs, feeds):
        sizes.append(len(next(iter(feeds.values()))))
        return run(outputs, feeds)

    session.run = counted
    return sizes


def test_short_calls_run_on_one_thread_and_long_ones_on_the_pool(model_path: Path) -> None:
    runtime = OnnxRuntime(model_path, threads=2)
    assert runtime._single is not runtime._pooled
    assert 0 < runtime._per_input_s < SHORT_CALL_S  # measured at load, on one blank input
    runtime._per_input_s = SHORT_CALL_S / 10  # a model that takes a tenth of a short call
    single, pooled = _calls(runtime._single), _calls(runtime._pooled)
    images = np.random.default_rng(1).random((64, 4, 4, 1), dtype=np.float32)
    reference = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    for size in (1, 9, 10, 64):
        expected = reference.run(None, {"input": images[:size]})[0]
        np.testing.assert_allclose(runtime(images[:size]), expected, rtol=1e-6, atol=1e-7)
    assert single == [1, 9] and pooled == [10, 64]


def test_one_thread_in_all_is_one_session(model_path: Path) -> None:
    """`automl serve --workers 2` on two cores: each worker's runtime has one thread."""
    runtime = OnnxRuntime(model_path, threads=1)
    assert runtime._single is runtime._pooled
    assert runtime(np.zeros((300, 4, 4, 1), np.float32)).shape == (300, 3)
