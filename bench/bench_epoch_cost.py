"""What an epoch of the default CNN costs on this machine, per training setting.

Side by side in one run, alternating, medians of --repeats: batch size, Keras'
steps_per_execution, and TensorFlow's thread pools. Seconds per 1,000 training images
(Fashion-MNIST, 28x28x1), measured over --steps steps after a warm-up.

    .venv/bin/python bench/bench_epoch_cost.py --steps 60 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

VARIANTS = {
    "batch 128": {"batch_size": 128},
    "batch 256": {"batch_size": 256},
    "batch 128, steps_per_execution 16": {"batch_size": 128, "steps_per_execution": 16},
    "batch 64": {"batch_size": 64},
    # The input pipeline before session 4: the whole split as float32 in a TF constant.
    "batch 128, float32 constant (before)": {"batch_size": 128, "constant": True},
}


def constant_dataset(x, y, batch_size: int):
    """Session 3's pipeline, for comparison: float32 copy, tf.gather from a constant."""
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=0).batch(batch_size)
    return order.map(
        lambda idx: (tf.gather(images, idx), tf.gather(labels, idx)),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--images", type=int, default=8192, help="training images per timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras

    from automl.data import get_task, training_dataset
    from automl.search import ModelParams, build_model, strong_default
    from automl.search._model_builder import make_optimizer

    data = get_task("fashion_mnist").load(args.data_dir, 0.1, 42)
    x, y = data.x_train[: args.images], data.y_train[: args.images]
    base = ModelParams.from_dict({**strong_default(data.input_shape), "filters": [32, 64, 128]})
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, variant in VARIANTS.items():
            batch_size = variant["batch_size"]
            model = build_model(base, data.input_shape, data.num_classes)
            model.compile(
                optimizer=make_optimizer(base),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                steps_per_execution=variant.get("steps_per_execution", 1),
            )
            dataset = (
                constant_dataset(data.model_input(x), y, batch_size)
                if variant.get("constant")
                else training_dataset(
                    x, y, batch_size, augment=False, seed=0, scale=data.pixel_scale
                )
            )
            model.fit(dataset.take(4), epochs=1, verbose=0)  # trace
            started = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0)
            results[name].append((time.perf_counter() - started) / len(x) * 1000)
            keras.backend.clear_session()
    print(f"{'setting':40} s per 1,000 images (median of {args.repeats})  full epoch (54,000)")
    for name, seconds in results.items():
        median = statistics.median(seconds)
        print(f"{name:40} {median:6.3f}                        {median * 54:6.1f} s")


if __name__ == "__main__":
    main()
