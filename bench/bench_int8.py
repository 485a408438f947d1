"""A float export against its int8 export (`--format onnx-int8` or `tflite-int8`): ONNX Runtime
or LiteRT on the CPU, batch 1 and 64, median of alternating runs (the two models take turns,
so the host's drift falls on both), and the file sizes. The accuracies are the int8 card's own
(the whole test split).

    .venv/bin/python bench/bench_int8.py --float m.onnx --int8 m-int8.onnx [--runs 300]
    .venv/bin/python bench/bench_int8.py --float m.tflite --int8 m-int8.tflite
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime


def runner(path: Path) -> Callable[[np.ndarray], object]:
    """A model file loaded with its runtime: a function of a float32 batch."""
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]["index"]

        def run_tflite(batch: np.ndarray) -> object:
            if tuple(interpreter.get_input_details()[0]["shape"]) != batch.shape:
                interpreter.resize_tensor_input(inp, batch.shape)
                interpreter.allocate_tensors()
            interpreter.set_tensor(inp, batch)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run_tflite
    options = onnxruntime.SessionOptions()
    # Idle threads of one session would spin on the cores while the other runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--float", dest="float_path", type=Path, required=True)
    parser.add_argument("--int8", dest="int8_path", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    card = json.loads(args.int8_path.with_name(args.int8_path.name + ".card.json").read_text())
    shape = card["input"]["shape"][1:]
    runners = {kind: runner(path) for kind, path in (("float", args.float_path),
                                                     ("int8", args.int8_path))}  # fmt: skip
    q = card["quantization"]
    print(f"{args.float_path.name} against {args.int8_path.name} ({'x'.join(map(str, shape))})")
    print(f"test accuracy: float {q['test_accuracy_float']:.4f}, int8 {q['test_accuracy_int8']:.4f} "
          f"on {q['test_images']} images; top-1 agreement {q['top1_agreement']:.4f}")  # fmt: skip
    float_size, int8_size = args.float_path.stat().st_size, args.int8_path.stat().st_size
    print(f"file: float {float_size / 1e6:.2f} MB, int8 {int8_size / 1e6:.2f} MB "
          f"({int8_size / float_size:.2f}x)")  # fmt: skip
    print("| batch | float median | int8 median | speed-up |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 64):
        images = rng.random((batch, *shape), dtype=np.float32)
        times: dict[str, list[float]] = {"float": [], "int8": []}
        runs = args.runs if batch == 1 else max(args.runs // 4, 20)
        for _ in range(10):  # warm-up
            for run in runners.values():
                run(images)
        for _ in range(runs):
            for kind, run in runners.items():
                started = time.perf_counter()
                run(images)
                times[kind].append(time.perf_counter() - started)
        f, i = statistics.median(times["float"]), statistics.median(times["int8"])
        print(f"| {batch} | {f * 1000:.3f} ms | {i * 1000:.3f} ms | {f / i:.2f}x |")


if __name__ == "__main__":
    main()
