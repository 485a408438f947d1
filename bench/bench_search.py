"""This project's timed search against KerasTuner's Hyperband, same data, budget and machine.

One invocation runs, one after the other, for each case and repeat:
  - `automl search` (a subprocess, as a user runs it) with the case's budget;
  - KerasTuner's Hyperband over a comparable conv-block space, stopped at the same budget
    (no new trial after it; the running one stops at the next batch), its best model scored on
    the same test split;
  - with --baseline, the search's strong default configuration trained alone for the budget.
It prints test accuracy, candidates evaluated, epochs and images trained, and writes JSON.

Cases: fashion_mnist (10 min), fm-4k (a stratified 4,000-image subset of Fashion-MNIST's
training split, 5 min), digits (TRIALS=5, no fixed budget for KerasTuner: the time our search
took). Needs `pip install keras-tuner` (the `bench` extra).

    .venv/bin/python bench/bench_search.py --cases fm-4k --repeats 1 --baseline
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

FM_DIR = Path("/usr/share/datasets/fashion-mnist")
CASES = {
    "fashion_mnist": {"task": "fashion_mnist", "timeout": 600, "subset": None},
    "fm-4k": {"task": "fashion_mnist", "timeout": 300, "subset": 4000},
    "digits": {"task": "digits", "timeout": None, "trials": 5},
}


def prepare_data(case: dict, folder: Path) -> Path | None:
    """The case's --data-dir: Fashion-MNIST's IDX files, or an .npz of the stratified subset."""
    if case["task"] != "fashion_mnist":
        return None
    if case["subset"] is None:
        return FM_DIR
    import numpy as np

    from automl.data import get_task, nested_subsets

    raw = get_task("fashion_mnist").load_raw(FM_DIR)
    (keep,) = nested_subsets(raw.y_train, [case["subset"] / len(raw.y_train)], seed=0)
    np.savez(
        folder / "fashion_mnist.npz",
        x_train=raw.x_train[keep],
        y_train=raw.y_train[keep],
        x_test=raw.x_test,
        y_test=raw.y_test,
    )
    return folder


def run_ours(
    case: dict, data_dir: Path | None, folder: Path, extra_args: Sequence[str] = ()
) -> dict:
    url = f"sqlite:///{folder / 'automl.db'}"
    command = [str(Path(sys.executable).parent / "automl"), "search", "--task", case["task"]]
    command += ["--storage", url, "--timeout", str(case["timeout"] or "none")]
    if "trials" in case:
        command += ["--trials", str(case["trials"])]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    command += list(extra_args)
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.monotonic() - started
    from storage import TrialStore

    store = TrialStore(url)
    trials = store.trials(case["task"])
    best = store.best_trial(case["task"], with_artifact=True)
    return {
        "system": "automl",
        "test_accuracy": best.test_accuracy if best else None,
        "candidates": sum(1 for t in trials if t.epochs_run and t.phase != "final"),
        "epochs": sum(t.epochs_run for t in trials),
        "images": sum(t.images_seen for t in trials),
        "seconds": seconds,
        "winner_phase": best.phase if best else None,
        "options": " ".join(extra_args),
    }


class BudgetSpent(Exception):
    pass


def stop_at(deadline: float):
    """A Keras callback that ends training at the first batch past ``deadline``."""
    import keras

    class StopAtDeadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None) -> None:
            if time.time() >= deadline:
                self.model.stop_training = True

    return StopAtDeadline()


def run_keras_tuner(data, budget_s: float, folder: Path) -> dict:
    import keras
    import keras_tuner as kt

    from automl.data import evaluation_dataset, training_dataset

    def build(hp: kt.HyperParameters) -> keras.Model:
        inputs = keras.Input(data.input_shape)
        x = inputs
        size = min(data.input_shape[:2])
        for block in range(hp.Int("blocks", 1, 3 if size >= 8 else 2)):
            for _ in range(hp.Int("convs", 1, 2)):
                x = keras.layers.Conv2D(
                    hp.Choice(f"filters_{block}", [16, 32, 64, 128]), 3, padding="same"
                )(x)
                if hp.Boolean("batch_norm"):
                    x = keras.layers.BatchNormalization()(x)
                x = keras.layers.Activation("relu")(x)
            if size >= 2:
                x = keras.layers.MaxPooling2D()(x)
                size //= 2
            x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5))(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(hp.Choice("dense", [64, 128, 256]), activation="relu")(x)
        x = keras.layers.Dropout(hp.Float("head_dropout", 0.0, 0.5))(x)
        outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile(
            optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    deadline = time.time() + budget_s

    class Timed(kt.Hyperband):
        def pre_create_trial(self) -> None:
            if time.time() >= deadline:
                raise BudgetSpent

    epochs_run = []

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None) -> None:
            epochs_run.append(1)

    tuner = Timed(
        build,
        objective="val_accuracy",
        max_epochs=15,
        factor=3,
        seed=0,
        directory=str(folder),
        project_name="kt",
        overwrite=True,
    )
    started = time.monotonic()
    with contextlib.suppress(BudgetSpent):  # the budget ends the search, as ours
        tuner.search(
            training_dataset(
                data.x_train, data.y_train, 128, augment=False, seed=0, scale=data.pixel_scale
            ),
            validation_data=evaluation_dataset(data.x_val, data.y_val, scale=data.pixel_scale),
            callbacks=[stop_at(deadline), CountEpochs()],
            verbose=0,
        )
    seconds = time.monotonic() - started
    trials = tuner.oracle.trials.values()
    best = tuner.get_best_models(1)[0]
    _, accuracy = best.evaluate(
        evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale), verbose=0
    )
    return {
        "system": "keras-tuner hyperband",
        "test_accuracy": float(accuracy),
        "candidates": len([t for t in trials if t.status == "COMPLETED"]),
        "epochs": len(epochs_run),
        "images": len(epochs_run) * len(data.x_train),
        "seconds": seconds,
    }


def strong_default_params(input_shape):
    from automl.search import strong_default

    return as_model_params(strong_default(input_shape))


def as_model_params(raw):
    """A configuration as the portfolio writes it (``filters_i``) -> ModelParams."""
    from automl.search import ModelParams

    return ModelParams.from_dict(
        {**raw, "filters": [raw[f"filters_{i}"] for i in range(raw["n_blocks"])]}
    )


def train_for(
    data, params, seconds: float, *, seed: int = 0, test_views=None, callbacks=()
) -> dict:
    """One configuration from scratch on all of ``data.x_train`` for ``seconds``, cosine to the
    deadline (as the final phase trains), scored on the test split. ``test_views`` (name ->
    images shaped like ``data.x_test``, already scaled) adds the model's class probabilities
    for each under ``"probabilities"``; ``callbacks`` are added to the fit's."""
    import keras

    from automl.data import evaluation_dataset, training_dataset
    from automl.search import BudgetCosine, build_model, compile_model

    keras.utils.set_random_seed(seed)
    deadline = time.time() + seconds
    model = build_model(params, data.input_shape, data.num_classes)
    compile_model(model, params)
    history = model.fit(
        training_dataset(
            data.x_train,
            data.y_train,
            params.batch_size,
            augment=params.augment,
            seed=seed,
            flip=data.horizontal_flip,
            scale=data.pixel_scale,
        ),
        validation_data=evaluation_dataset(data.x_val, data.y_val, scale=data.pixel_scale),
        epochs=1000,
        verbose=0,
        callbacks=[
            BudgetCosine(params.learning_rate, 1000, deadline),
            *callbacks,
            stop_at(deadline),
        ],
    )
    _, accuracy = model.evaluate(
        evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale), verbose=0
    )
    probabilities = {
        name: model.predict(images, batch_size=512, verbose=0)
        for name, images in (test_views or {}).items()
    }
    keras.backend.clear_session()
    return {
        "epochs": len(history.history["loss"]),
        "val_accuracy": max(history.history["val_accuracy"]),
        "test_accuracy": float(accuracy),
        **({"probabilities": probabilities} if probabilities else {}),
    }


def run_default_alone(data, budget_s: float) -> dict:
    """The strong default, trained alone with a cosine schedule sized to the budget."""
    result = train_for(data, strong_default_params(data.input_shape), budget_s)
    return {
        "system": "strong default alone",
        "test_accuracy": result["test_accuracy"],
        "candidates": 1,
        "epochs": result["epochs"],
        "images": result["epochs"] * len(data.x_train),
        "seconds": budget_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="fashion_mnist,fm-4k,digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also the default alone")
    parser.add_argument("--no-keras-tuner", action="store_true")
    parser.add_argument(
        "--no-ours", action="store_true", help="skip this project's search (timed cases only)"
    )
    parser.add_argument(
        "--search-args",
        default="",
        help="more options for this project's search, e.g. '--final-share 0.7'",
    )
    parser.add_argument("--out", type=Path, default=Path("bench_search.json"))
    parser.add_argument(
        "--keep-stores", type=Path, help="copy each search's trial store here, to read later"
    )
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras

    from automl.data import get_task

    rows = []
    for name in args.cases.split(","):
        case = CASES[name]
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch)
                data_dir = prepare_data(case, folder)

                def keep(result: dict, name: str = name, repeat: int = repeat) -> None:
                    """Each result is written as soon as it exists."""
                    rows.append({"case": name, "repeat": repeat, **result})
                    keras.backend.clear_session()
                    print(json.dumps(rows[-1]), flush=True)
                    args.out.write_text(json.dumps(rows, indent=1))

                if not args.no_ours:
                    keep(run_ours(case, data_dir, folder, shlex.split(args.search_args)))
                    if args.keep_stores:
                        args.keep_stores.mkdir(parents=True, exist_ok=True)
                        kept = args.keep_stores / f"{name}-{repeat}.db"
                        shutil.copyfile(folder / "automl.db", kept)
                data = get_task(case["task"]).load(data_dir, 0.1, 42)
                budget = case["timeout"] or rows[-1]["seconds"]  # digits: the time ours took
                if not args.no_keras_tuner:
                    keep(run_keras_tuner(data, budget, folder))
                if args.baseline:
                    keep(run_default_alone(data, budget))

    print(f"\n{'case':14} {'system':24} median test acc  candidates  epochs  images")
    for name in args.cases.split(","):
        for system in dict.fromkeys(r["system"] for r in rows if r["case"] == name):
            mine = [r for r in rows if r["case"] == name and r["system"] == system]
            print(
                f"{name:14} {system:24} "
                f"{statistics.median(r['test_accuracy'] for r in mine):.4f}"
                f"           {statistics.median(r['candidates'] for r in mine):>5}"
                f"  {statistics.median(r['epochs'] for r in mine):>6}"
                f"  {statistics.median(r['images'] for r in mine):>8,.0f}"
            )


if __name__ == "__main__":
    main()
