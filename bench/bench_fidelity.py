"""Do cheap screening scores rank configurations as full-data training does? (Spearman)

For N configurations sampled from the search space (seeded; the portfolio first), train:
  - the screening rungs, as the search does (1/8 of the data for 2 epochs, then 1/4 for 2 more
    on the nested superset), recording validation accuracy after each rung;
  - from scratch on the whole training split for --full-epochs epochs (cosine schedule).
Then print the Spearman rank correlation between each rung's scores and the full-data scores.
Configurations whose full-data epoch would take over --max-epoch-s are skipped, as the
screening's too-slow rule prunes them (60 s: 5 epochs in a 10-minute budget's final half).

    .venv/bin/python bench/bench_fidelity.py --configs 16 --full-epochs 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--rungs", type=int, default=3, help="screening rungs to score")
    parser.add_argument("--full-epochs", type=int, default=3)
    parser.add_argument("--max-epoch-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench_fidelity.json"))
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras
    import optuna
    from scipy.stats import spearmanr

    from automl.data import evaluation_dataset, get_task, nested_subsets, training_dataset
    from automl.search import BudgetCosine, build_model, compile_model, portfolio, suggest_params
    from automl.search._budget import screening_rungs
    from automl.search._callbacks import CostMeter, FitAbandoned

    data = get_task("fashion_mnist").load(args.data_dir, 0.1, 42)
    rungs = screening_rungs(len(data.x_train))[: args.rungs]
    subsets = nested_subsets(data.y_train, [r.fraction for r in rungs], 42)
    val = evaluation_dataset(data.x_val, data.y_val, scale=data.pixel_scale)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    for params in portfolio(data.input_shape):
        study.enqueue_trial(params)

    rows = []
    while len(rows) < args.configs:
        trial = study.ask()
        params = suggest_params(trial, data.input_shape)
        keras.utils.set_random_seed(args.seed)
        model = build_model(params, data.input_shape, data.num_classes)
        compile_model(model, params)
        # As in the search: a candidate too slow for the final phase is dropped at once.
        meter = CostMeter(
            params.batch_size, max_seconds_per_image=args.max_epoch_s / len(data.x_train)
        )
        schedule = keras.callbacks.LearningRateScheduler(
            BudgetCosine(params.learning_rate, sum(r.epochs for r in rungs))
        )

        def batches(indices=None, params=params):
            return training_dataset(
                data.x_train,
                data.y_train,
                params.batch_size,
                augment=params.augment,
                seed=0,
                scale=data.pixel_scale,
                indices=indices,
            )

        scores, epoch, started = [], 0, time.perf_counter()
        try:
            for rung, indices in zip(rungs, subsets):
                history = model.fit(
                    batches(indices),
                    validation_data=val,
                    initial_epoch=epoch,
                    epochs=epoch + rung.epochs,
                    verbose=0,
                    callbacks=[schedule, meter],
                )
                epoch += rung.epochs
                scores.append(history.history["val_accuracy"][-1])  # as reported
        except FitAbandoned:
            print(f"skip {trial.number}: too slow for a final phase", flush=True)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            keras.backend.clear_session()
            continue
        screening_s = time.perf_counter() - started
        keras.backend.clear_session()
        keras.utils.set_random_seed(args.seed)
        model = build_model(params, data.input_shape, data.num_classes)
        compile_model(model, params)
        started = time.perf_counter()
        history = model.fit(
            batches(),
            validation_data=val,
            epochs=args.full_epochs,
            verbose=0,
            callbacks=[BudgetCosine(params.learning_rate, args.full_epochs)],
        )
        full = max(history.history["val_accuracy"])
        keras.backend.clear_session()
        study.tell(trial, full)
        rows.append(
            {
                "trial": trial.number,
                "params": model.count_params(),
                "rungs": scores,
                "full": full,
                "screening_s": screening_s,
                "full_s": time.perf_counter() - started,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps(rows, indent=1))

    full = [r["full"] for r in rows]
    for level in range(len(rungs)):
        rung_scores = [r["rungs"][level] for r in rows]
        rho = spearmanr(rung_scores, full).statistic
        print(f"rung {level + 1} ({rungs[level].fraction:g} of the data): Spearman {rho:.3f}")


if __name__ == "__main__":
    main()
