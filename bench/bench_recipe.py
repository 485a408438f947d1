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
from pathlib import Path

from bench_search import CASES, prepare_data, strong_default_params, train_for

#: Label smoothing (0.1) was measured too, with a loss written for it (commit 21134ab): no
#: gain (BENCHMARKS.md), so the loss was removed again.
RECIPES = {
    "plain": {"augment": False},
    "augment": {"augment": True},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="fm-4k", choices=sorted(CASES))
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument(
        "--params", type=Path, help="ModelParams JSON (default: the strong default)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench_recipe.json"))
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    from automl.data import get_task
    from automl.search import ModelParams

    case = CASES[args.case]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = prepare_data(case, Path(scratch))
        data = get_task(case["task"]).load(data_dir)
    params = (
        ModelParams.from_dict(json.loads(args.params.read_text()))
        if args.params
        else strong_default_params(data.input_shape)
    )

    names = args.recipes.split(",")
    rows = []
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            result = train_for(data, params, args.seconds, seed=repeat, **RECIPES[name])
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
