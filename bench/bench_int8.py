"""A float ONNX export against its `--format onnx-int8` export: ONNX Runtime on the CPU, batch
1 and 64, median of alternating runs (the two models take turns, so the host's drift falls on
both), and the file sizes. The accuracies are the int8 card's own (the whole test split).

    .venv/bin/python bench/bench_int8.py --float m.onnx --int8 m-int8.onnx [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--float", dest="float_path", type=Path, required=True)
    parser.add_argument("--int8", dest="int8_path", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    card = json.loads(args.int8_path.with_name(args.int8_path.name + ".card.json").read_text())
    shape = card["input"]["shape"][1:]
    options = onnxruntime.SessionOptions()
    # Idle threads of one session would spin on the cores while the other runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {
        kind: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for kind, path in (("float", args.float_path), ("int8", args.int8_path))
    }
    name = sessions["float"].get_inputs()[0].name
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
            for session in sessions.values():
                session.run(None, {name: images})
        for _ in range(runs):
            for kind, session in sessions.items():
                started = time.perf_counter()
                session.run(None, {name: images})
                times[kind].append(time.perf_counter() - started)
        f, i = statistics.median(times["float"]), statistics.median(times["int8"])
        print(f"| {batch} | {f * 1000:.3f} ms | {i * 1000:.3f} ms | {f / i:.2f}x |")


if __name__ == "__main__":
    main()
