"""A dataset larger than the memory it may use: Fashion-MNIST's 70,000 PNGs (written by
bench_image_folder.py) prepared as 160x160 images, a 1.8 GB uint8 cache, trained on inside a
cgroup (v1) that allows the whole process tree --limit-mb of memory, page cache included.

In one fresh process, under the limit: scan and decode into the cache (or map it on a second
run), one epoch of a small CNN over every training image through the project's input
pipeline, then the test split scored. Prints the cgroup's peak usage and whether the kernel
killed the process. Needs root (it creates /sys/fs/cgroup/memory/automl-bench).

    .venv/bin/python bench/bench_larger_than_memory.py --out /tmp/fm-png --limit-mb 1200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup/memory/automl-bench")

STEP = """
import json, sys, time
from pathlib import Path
from automl._quiet import quiet_logs
quiet_logs()
import keras
from automl.data import evaluation_dataset, open_task, training_dataset
source, cache, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
task = open_task("images", source, {"image_size": size}, cache, 0.1, 42)
data = task.load(source)
loaded = time.perf_counter() - started
inputs = keras.Input(data.input_shape)
x = keras.layers.Conv2D(16, 5, strides=4, activation="relu")(inputs)
x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
x = keras.layers.GlobalAveragePooling2D()(x)
model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
started = time.perf_counter()
model.fit(
    training_dataset(data.x_train, data.y_train, 128, augment=False, seed=0,
                     scale=data.pixel_scale),
    epochs=1, verbose=0,
)
trained = time.perf_counter() - started
_, accuracy = model.evaluate(
    evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale), verbose=0
)
print(json.dumps({
    "cache_mb": data.x_train.nbytes / 2**20 * len(task.dataset.labels) / len(data.x_train),
    "train_images": len(data.x_train), "load_s": loaded, "epoch_s": trained,
    "test_accuracy": float(accuracy),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/fm-png"))
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--limit-mb", type=int, default=1200)
    args = parser.parse_args()
    cache = args.out.parent / (args.out.name + f"-cache-{args.size}")
    CGROUP.mkdir(exist_ok=True)
    (CGROUP / "memory.limit_in_bytes").write_text(str(args.limit_mb * 2**20))
    (CGROUP / "memory.max_usage_in_bytes").write_text("0")  # reset the peak
    for attempt in ("first run (decode)", "second run (cache hit)"):
        result = subprocess.run(
            [
                "sh",
                "-c",
                f'echo $$ > {CGROUP}/cgroup.procs && exec "$@"',
                "sh",
                sys.executable,
                "-c",
                STEP,
                str(args.out),
                str(cache),
                str(args.size),
            ],
            capture_output=True,
            text=True,
        )
        peak = int((CGROUP / "memory.max_usage_in_bytes").read_text()) / 2**20
        (CGROUP / "memory.max_usage_in_bytes").write_text("0")
        if result.returncode:
            print(f"{attempt}: exit {result.returncode} (killed: -9), peak {peak:.0f} MB")
            print(result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else "")
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"{attempt}: limit {args.limit_mb} MB, peak {peak:.0f} MB; cache "
            f"{row['cache_mb']:.0f} MB; load {row['load_s']:.1f} s; one epoch over "
            f"{row['train_images']} images {row['epoch_s']:.0f} s; test accuracy "
            f"{row['test_accuracy']:.4f}"
        )


if __name__ == "__main__":
    main()
