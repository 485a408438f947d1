"""One worker with all the cores, or one worker per core? Training throughput side by side.

Runs the strong default's training on Fashion-MNIST images in fresh processes: 1 process with
TensorFlow's thread pools at 2 (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS), then 2
processes at once with 1 thread each, alternating, --repeats times. Prints the images per second
of the whole machine (medians), which decides the default thread split of `--workers`.

    .venv/bin/python bench/bench_workers.py --images 8192 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

STEP = """
import sys, time
from pathlib import Path
from automl._quiet import quiet_logs
quiet_logs()
import keras
from automl.data import get_task, training_dataset
from automl.search import ModelParams, build_model, compile_model, strong_default
images = int(sys.argv[1])
data = get_task("fashion_mnist").load(Path("/usr/share/datasets/fashion-mnist"), 0.1, 42)
raw = strong_default(data.input_shape)
params = ModelParams.from_dict({**raw, "filters": [raw[f"filters_{i}"] for i in range(raw["n_blocks"])]})
model = build_model(params, data.input_shape, data.num_classes)
compile_model(model, params)
dataset = training_dataset(data.x_train[:images], data.y_train[:images], params.batch_size,
                           augment=False, seed=0, scale=data.pixel_scale)
model.fit(dataset.take(4), epochs=1, verbose=0)  # trace
print("ready", flush=True)
sys.stdin.readline()  # all processes start timing together
started = time.perf_counter()
model.fit(dataset, epochs=1, verbose=0)
print(time.perf_counter() - started, flush=True)
"""


def run(processes: int, threads: int, images: int) -> float:
    """Images per second of ``processes`` trainers running at once."""
    env = {
        **os.environ,
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STEP, str(images)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.stdout.readline()
        p.wait()
    return processes * images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    layouts = {f"1 worker x {cores} threads": (1, cores), f"{cores} workers x 1 thread": (cores, 1)}
    rates: dict[str, list[float]] = {name: [] for name in layouts}
    for _ in range(args.repeats):
        for name, (processes, threads) in layouts.items():
            rates[name].append(run(processes, threads, args.images))
    for name, values in rates.items():
        print(
            f"{name:24s} {statistics.median(values):7.0f} images/s "
            f"(runs: {', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
