"""Which training recipe pays in the final phase: with or without augmentation.

One configuration (the strong default, or one given as JSON) is trained from scratch on all of
a case's training split for a fixed number of seconds, once per recipe, the recipes in turn
(rotated each repeat so no recipe always runs on the warmest or busiest stretch of the host),
with the final phase's schedule (cosine to the deadline). Test accuracy of each, and the
medians over repeats. Cases as in bench_search.py.

    .venv/bin/python bench/bench_recipe.py --case fm-4k --seconds 150 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench_search import CASES, prepare_data, stop_at

#: Label smoothing (0.1) was measured too, with a loss written for it (commit 21134ab): no
#: gain (BENCHMARKS.md), so the loss was removed again.
RECIPES = {
    "plain": {"augment": False},
    "augment": {"augment": True},
}


def train(data, params, recipe: dict, seconds: float, seed: int) -> dict:
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
            augment=recipe["augment"],
            seed=seed,
            flip=data.horizontal_flip,
        ),
        validation_data=evaluation_dataset(data.x_val, data.y_val),
        epochs=1000,
        verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(
                BudgetCosine(params.learning_rate, 1000, deadline)
            ),
            stop_at(deadline),
        ],
    )
    _, accuracy = model.evaluate(evaluation_dataset(data.x_test, data.y_test), verbose=0)
    keras.backend.clear_session()
    return {
        "epochs": len(history.history["loss"]),
        "val_accuracy": max(history.history["val_accuracy"]),
        "test_accuracy": float(accuracy),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="fm-4k", choices=sorted(CASES))
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--params", type=Path, help="JSON of a configuration (default: strong)")
    parser.add_argument("--out", type=Path, default=Path("bench_recipe.json"))
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    from automl.data import get_task
    from automl.search import ModelParams, strong_default

    case = CASES[args.case]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = prepare_data(case, Path(scratch))
        data = get_task(case["task"]).load(data_dir)
    raw = json.loads(args.params.read_text()) if args.params else strong_default(data.input_shape)
    if "filters" not in raw:
        raw = {**raw, "filters": [raw[f"filters_{i}"] for i in range(raw["n_blocks"])]}
    params = ModelParams.from_dict(raw)

    names = args.recipes.split(",")
    rows = []
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            result = train(data, params, RECIPES[name], args.seconds, seed=repeat)
            rows.append({"case": args.case, "recipe": name, "repeat": repeat, **result})
            print(json.dumps(rows[-1]), flush=True)
            args.out.write_text(json.dumps(rows, indent=1))

    print(f"\n{args.case}, {args.seconds:.0f} s each, medians of {args.repeats}:")
    for name in names:
        mine = [r for r in rows if r["recipe"] == name]
        test = statistics.median(r["test_accuracy"] for r in mine)
        epochs = statistics.median(r["epochs"] for r in mine)
        print(f"  {name:16s} test {test:.4f}  epochs {epochs:.0f}")


if __name__ == "__main__":
    main()
