"""Which training recipe pays in the final phase: augmentation, label smoothing, or neither.

One configuration (the strong default, the portfolio's one-block net, or one given as JSON) is
trained from scratch on all of a case's training split for a fixed number of seconds, once per
recipe, the recipes in turn (rotated each repeat so no recipe always runs on the warmest or
busiest stretch of the host), with the final phase's schedule (cosine to the deadline). Test
accuracy of each, and the medians over repeats. Cases as in bench_search.py.

    .venv/bin/python bench/bench_recipe.py --case fm-4k --seconds 150 --repeats 2
    .venv/bin/python bench/bench_recipe.py --case fashion_mnist --config one_block_default \
        --seconds 300 --repeats 2 --recipes plain,smoothed
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from bench_search import CASES, as_model_params, prepare_data, train_for

#: Each recipe: the configuration's parameters it overrides.
RECIPES = {
    "plain": {"augment": False, "label_smoothing": 0.0},
    "augment": {"augment": True, "label_smoothing": 0.0},
    "smoothed": {"augment": False, "label_smoothing": 0.1},
}
CONFIGS = ("strong_default", "one_block_default")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="fm-4k", choices=sorted(CASES))
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--config", default="strong_default", choices=CONFIGS)
    parser.add_argument("--params", type=Path, help="ModelParams JSON (instead of --config)")
    parser.add_argument("--out", type=Path, default=Path("bench_recipe.json"))
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    from automl import search
    from automl.data import get_task
    from automl.search import ModelParams

    case = CASES[args.case]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = prepare_data(case, Path(scratch))
        data = get_task(case["task"]).load(data_dir)
    params = (
        ModelParams.from_dict(json.loads(args.params.read_text()))
        if args.params
        else as_model_params(getattr(search, args.config)(data.input_shape))
    )

    names = args.recipes.split(",")
    rows = []
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            recipe = replace(params, **RECIPES[name])
            result = train_for(data, recipe, args.seconds, seed=repeat)
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
