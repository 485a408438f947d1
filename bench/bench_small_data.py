"""Which configuration to screen first on small data: variants of the strong default, each
trained alone for a fixed time (cosine to the deadline, as the final phase trains).

The data is not the benchmark's: a stratified 3,600-image subset of Fashion-MNIST's training
split drawn with another seed, validated on 400 and scored on 10,000 other training images
(none of them in bench_search.py's fm-4k subset), so choosing here does not tune on the test
split that bench_search.py reports.

    .venv/bin/python bench/bench_small_data.py --seconds 150 --variants default,small_data
    .venv/bin/python bench/bench_small_data.py --variants small_data --max-shift 0.07 --seed 1
    .venv/bin/python bench/bench_small_data.py --variants small_data --with-validation
    .venv/bin/python bench/bench_small_data.py --variants small_data --erase-area 0.33
    .venv/bin/python bench/bench_small_data.py --variants small_data --seconds 225 --flip
    .venv/bin/python bench/bench_small_data.py --variants small_data --seconds 225 --pair
    .venv/bin/python bench/bench_small_data.py --variants small_data --seconds 225 --shift-tta
    .venv/bin/python bench/bench_small_data.py --seconds 225 \
        --variants small_data_16_32_64,small_data_32_48_96,small_data_16_32_128
    .venv/bin/python bench/bench_small_data.py --cost 2 \
        --variants small_data,small_data_16_32_64,small_data_32_48_96,batch256
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
from bench_search import FM_DIR, strong_default_params, train_for

from automl.search import small_data_default, strong_default

SHAPE = (28, 28, 1)
#: The search's small-data default, as its changes to the strong default.
SMALL_DATA = {k: v for k, v in small_data_default(SHAPE).items() if strong_default(SHAPE)[k] != v}
#: Changes to the strong default, one variant each.
VARIANTS = {
    "default": {},
    "small_data": SMALL_DATA,
    "small_data_unshifted": {**SMALL_DATA, "augment": False},
    "small_data_dense": {**SMALL_DATA, "dense_units": 128, "head_dropout": 0.3},
    "small_data_batch64": {**SMALL_DATA, "batch_size": 64},
    "small_data_dropout_0.2": {**SMALL_DATA, "dropout": 0.2},
    "small_data_augment": {**SMALL_DATA, "dropout": 0.2, "augment": True},
    # Narrower nets: more epochs in the same time (session 13).
    "small_data_16_32_64": {**SMALL_DATA, "filters": (16, 32, 64)},
    "small_data_32_48_96": {**SMALL_DATA, "filters": (32, 48, 96)},
    "small_data_16_32_128": {**SMALL_DATA, "filters": (16, 32, 128)},
    # Optimiser settings on the small-data net (session 16, measured before "small_data" took
    # AdamW with decay 0.05). Keras' weight decay is decoupled (each step shrinks the weights
    # by decay x learning rate), so the strong default's 1e-5 does next to nothing.
    "small_data_adamw_0.05": {**SMALL_DATA, "optimizer": "adamw", "weight_decay": 0.05},
    "small_data_adamw_0.15": {**SMALL_DATA, "optimizer": "adamw", "weight_decay": 0.15},
    "small_data_sgd": {
        **SMALL_DATA,
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "weight_decay": 5e-4,
    },
    "small_data_lr_1e-3": {**SMALL_DATA, "learning_rate": 1e-3},
    "small_data_lr_6e-3": {**SMALL_DATA, "learning_rate": 6e-3},
    "regularised": dict(dropout=0.35, head_dropout=0.5, optimizer="adamw", weight_decay=5e-4),
    "two_blocks_two_convs": dict(
        n_blocks=2, filters=(32, 64), convs_per_block=2, dropout=0.3, head_dropout=0.5
    ),
    "batch64": dict(batch_size=64),
    "batch256": {**SMALL_DATA, "batch_size": 256},
    "wide": dict(filters=(64, 128, 256)),
    "lr_1e-3": dict(learning_rate=1e-3),
    "augment": dict(augment=True),
}


def small_fashion_mnist():
    from automl.data import get_task, nested_subsets

    raw = get_task("fashion_mnist").load_raw(FM_DIR)
    y = raw.y_train
    x = raw.x_train[..., None] if raw.x_train.ndim == 3 else raw.x_train
    (train,) = nested_subsets(y, [3600 / len(y)], seed=1)
    (benchmark,) = nested_subsets(y, [4000 / len(y)], seed=0)  # bench_search.py's fm-4k
    rest = np.setdiff1d(np.arange(len(y)), np.union1d(train, benchmark))
    scored = np.random.default_rng(2).choice(rest, 10000, replace=False)
    val = np.random.default_rng(3).choice(np.setdiff1d(rest, scored), 400, replace=False)
    return SimpleNamespace(
        x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val],
        x_test=x[scored], y_test=y[scored], input_shape=x.shape[1:], num_classes=10,
        horizontal_flip=False, pixel_scale=1 / 255,
    )  # fmt: skip


def with_erasing(augmentation, max_area: float):
    """``augmentation`` (the input pipeline's) followed by random erasing."""
    import keras

    def erasing(size, seed, flip=False):
        layers = augmentation(size, seed, flip)
        layers.add(
            keras.layers.RandomErasing(scale=(0.02, max_area), value_range=(0, 1), seed=seed + 2)
        )
        return layers

    return erasing


def one_pixel_views(x_test, scale: float) -> dict[str, np.ndarray]:
    """The test images as they are and moved one pixel up, down, left and right (edges
    zero-padded), for test-time averaging."""
    x = x_test.astype("float32") * scale
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    side_y, side_x = x.shape[1:3]
    return {
        f"{dy},{dx}": padded[:, 1 + dy : 1 + dy + side_y, 1 + dx : 1 + dx + side_x]
        for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
    }


def epoch_seconds(data, params, rounds: int) -> list[float]:
    """Seconds per training epoch (two epochs timed after a warm-up one), ``rounds`` times."""
    import time

    import keras

    from automl.data import training_dataset
    from automl.search import build_model, compile_model

    seconds = []
    for _ in range(rounds):
        keras.utils.set_random_seed(0)
        model = build_model(params, data.input_shape, data.num_classes)
        compile_model(model, params)
        dataset = training_dataset(
            data.x_train, data.y_train, params.batch_size, augment=params.augment, seed=0,
            flip=data.horizontal_flip, scale=data.pixel_scale,
        )  # fmt: skip
        model.fit(dataset, epochs=1, verbose=0)
        started = time.perf_counter()
        model.fit(dataset, epochs=2, verbose=0)
        seconds.append(round((time.perf_counter() - started) / 2, 2))
        keras.backend.clear_session()
    return seconds


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--variants", default="default,small_data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-shift", type=float, help="augmentation's largest shift, as a share of the side"
    )
    parser.add_argument(
        "--with-validation",
        action="store_true",
        help="train on the 400 validation images too (as a final run on all labelled data would)",
    )
    parser.add_argument(
        "--erase-area",
        type=float,
        help="also random erasing (Keras' RandomErasing, after the shifts): patches of 2 %% up "
        "to this share of the image, each image with a probability drawn from [0, 1)",
    )
    parser.add_argument(
        "--flip",
        action="store_true",
        help="mirror training images left-right too, as the search did for Fashion-MNIST until "
        "session 12",
    )
    parser.add_argument(
        "--pair",
        action="store_true",
        help="also two nets of the variant for half the time each, their predictions averaged "
        "(an ensemble in the same time)",
    )
    parser.add_argument(
        "--shift-tta",
        action="store_true",
        help="also score each test image's prediction averaged over it and its four one-pixel "
        "shifts (test-time augmentation)",
    )
    parser.add_argument(
        "--cost",
        type=int,
        metavar="ROUNDS",
        help="only measure seconds per epoch, ROUNDS times per variant (no accuracy)",
    )
    args = parser.parse_args()

    from automl._quiet import quiet_logs
    from automl.data import _pipeline

    if args.max_shift is not None:
        _pipeline.MAX_SHIFT = args.max_shift
    if args.erase_area is not None:
        _pipeline.augmentation = with_erasing(_pipeline.augmentation, args.erase_area)

    quiet_logs()
    from automl.search import ModelParams

    data = small_fashion_mnist()
    data.horizontal_flip = args.flip
    if args.with_validation:
        data.x_train = np.concatenate([data.x_train, data.x_val])
        data.y_train = np.concatenate([data.y_train, data.y_val])
    base = dataclasses.asdict(strong_default_params(data.input_shape))
    settings = {k: v for k, v in vars(args).items() if k != "variants"}
    views = one_pixel_views(data.x_test, data.pixel_scale) if args.shift_tta else None
    plain = {"plain": data.x_test.astype("float32") * data.pixel_scale} if args.pair else None
    for name in args.variants.split(","):
        params = ModelParams(**{**base, **VARIANTS[name]})
        if args.cost:
            cost = {"epoch_seconds": epoch_seconds(data, params, args.cost)}
            print(json.dumps({"variant": name, "cost": args.cost, **cost}), flush=True)
            continue
        result = train_for(data, params, args.seconds, seed=args.seed, test_views=views)
        if views:
            probabilities = result.pop("probabilities")
            result["test_accuracy_shift_tta"] = accuracy(sum(probabilities.values()), data.y_test)
        print(json.dumps({"variant": name, **settings, **result}), flush=True)
        if args.pair:
            members = [
                train_for(data, params, args.seconds / 2, seed=seed, test_views=plain)
                for seed in (args.seed + 100, args.seed + 200)
            ]
            averaged = sum(m["probabilities"]["plain"] for m in members)
            pair = {
                "epochs": [m["epochs"] for m in members],
                "member_test_accuracy": [m["test_accuracy"] for m in members],
                "test_accuracy": accuracy(averaged, data.y_test),
            }
            print(json.dumps({"variant": f"{name} x2, half the time each", **settings, **pair}))


if __name__ == "__main__":
    main()
