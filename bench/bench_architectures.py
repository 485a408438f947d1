"""How the candidate strong defaults trade accuracy for time on Fashion-MNIST (plain Keras).

Used to choose the configuration the search tries first. Conv blocks of conv-BN-ReLU, max
pooling and dropout 0.25, then dense 128 (dropout 0.4); Adam with a cosine decay.

    .venv/bin/python bench/bench_architectures.py --filters 32,64,128 --convs 1 --epochs 10 --lr 0.003
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--filters", default="32,64,128")
    parser.add_argument("--convs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras

    from automl.data import evaluation_dataset, get_task, training_dataset

    data = get_task("fashion_mnist").load(args.data_dir, 0.1, 42)
    layers = keras.layers
    inputs = keras.Input(data.input_shape)
    x = inputs
    for filters in map(int, args.filters.split(",")):
        for _ in range(args.convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        x = layers.Dropout(0.25)(layers.MaxPooling2D()(x))
    x = layers.Dropout(0.4)(layers.Dense(128, activation="relu")(layers.Flatten()(x)))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    steps = -(-len(data.x_train) // args.batch_size) * args.epochs
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.05)
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    train = training_dataset(
        data.x_train, data.y_train, args.batch_size, augment=False, seed=0, scale=data.pixel_scale
    )
    val = evaluation_dataset(data.x_val, data.y_val, scale=data.pixel_scale)
    print(f"filters {args.filters} x{args.convs} conv, {model.count_params():,} weights")
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        begun = time.perf_counter()
        history = model.fit(train, validation_data=val, epochs=1, verbose=0)
        print(
            f"epoch {epoch}: {time.perf_counter() - begun:.1f} s, val {history.history['val_accuracy'][-1]:.4f}",
            flush=True,
        )
    _, test = model.evaluate(
        evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale), verbose=0
    )
    print(f"test accuracy {test:.4f} after {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
