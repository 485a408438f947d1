"""Does a final run gain from starting at its configuration's screened weights?

For each configuration and seed, through the search's own ``Objective`` (the real rungs, cost
meter, schedules and saved models): the screening ladder once (1/8 of Fashion-MNIST's training
split for 2 epochs, 1/4 and 1/2 for one each, about one full-data epoch's worth of images),
then two final runs of ``--seconds`` each on all the data, one from scratch and one from the
screened weights, scored on the test split. Configurations are a stored study's trials
(``--study``/``--storage``) or the strong default.

    .venv/bin/python bench/bench_warm_final.py --seconds 300 --seeds 0,1 \\
        --storage sqlite:////tmp/runs/s21a.db --study s21a --trials 12
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_search import FM_DIR


def configurations(storage: str | None, study: str | None, numbers: list[int]) -> dict:
    from automl.search import strong_default

    if not storage:
        return {"strong default": strong_default((28, 28, 1))}
    import optuna

    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    return {f"{study} trial {n}": by_number[n].params for n in numbers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="each final run's budget")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--storage", help="an Optuna storage URL holding the configurations")
    parser.add_argument("--study")
    parser.add_argument("--trials", default="", help="their trial numbers, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("warm_final.json"))
    args = parser.parse_args()

    import keras
    import optuna

    from automl import SearchConfig
    from automl._quiet import quiet_logs
    from automl.data import evaluation_dataset, get_task
    from automl.search import (
        ArtifactKeeper,
        Objective,
        open_artifact_store,
        verified_artifact,
    )
    from automl.search._budget import BudgetPlan
    from storage import TrialStore

    quiet_logs(False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = get_task("fashion_mnist").load(FM_DIR, 0.1, 42)
    test = evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale)
    numbers = [int(n) for n in args.trials.split(",") if n]
    results = []
    for name, params in configurations(args.storage, args.study, numbers).items():
        for seed in (int(s) for s in args.seeds.split(",")):
            folder = Path(tempfile.mkdtemp(prefix="warm-final-"))
            config = SearchConfig(
                task="fashion_mnist",
                study_name="warm",
                seed=seed,
                storage_url=f"sqlite:///{folder / 'a.db'}",
                artifacts=str(folder / "models"),
                keep_best=10,
            )
            store = TrialStore(config.storage_url)
            store.ensure_study("warm", "fashion_mnist", 1, {})
            keeper = ArtifactKeeper(store, "warm", open_artifact_store(config.artifacts), 10)
            plan = BudgetPlan.from_timeout(time.time(), 100_000.0)  # screening never cut
            objective = Objective(config, data, store, keeper, plan=plan)
            study = optuna.create_study(direction="maximize")  # no pruning: every rung runs
            study.enqueue_trial(params)
            study.optimize(objective, n_trials=1)
            for start, warm in (("scratch", {}), ("screened weights", {"warm_from": 0})):
                objective.deadline = time.time() + args.seconds
                study.enqueue_trial(params, user_attrs={"phase": "final", **warm})
                study.optimize(objective, n_trials=1)
                number = study.trials[-1].number
                _, path = verified_artifact(store, "warm", number)
                _, accuracy = keras.saving.load_model(path).evaluate(test, verbose=0)
                trial = store.trial("warm", number)
                row = {
                    "configuration": name,
                    "seed": seed,
                    "start": start,
                    "screening_seconds": round(store.trial("warm", 0).duration_s, 1),
                    "epochs": trial.epochs_run,
                    "val_accuracy": round(trial.value, 4),
                    "test_accuracy": round(float(accuracy), 4),
                }
                print(json.dumps(row), flush=True)
                results.append(row)
                keras.backend.clear_session()
            store.close()
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
