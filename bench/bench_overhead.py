"""Per-epoch cost of the project's trial path vs a bare `model.fit`, side by side.

One fixed architecture (the search's strong default) on Fashion-MNIST. Both runs build,
compile and train the same model for the same epochs; the project's run goes through the
Objective (tf.data pipeline, callbacks writing every epoch to SQLite and reporting to Optuna,
best-weight tracking, artifact saving). Runs alternate (bare, project, bare, project, ...) so
machine noise hits both; the figure is the ratio of medians.

    .venv/bin/python bench/bench_overhead.py [--data-dir DIR] [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras
    import optuna

    from automl import SearchConfig
    from automl.data import get_task
    from automl.search import (
        ArtifactKeeper,
        BudgetCosine,
        ModelParams,
        Objective,
        build_model,
        compile_model,
        strong_default,
    )
    from storage import TrialStore

    data = get_task("fashion_mnist").load(args.data_dir, 0.1, 42)
    default = strong_default(data.input_shape)
    folder = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    config = SearchConfig(
        task="fashion_mnist", study_name="bench", epochs=args.epochs, patience=args.epochs,
        storage_url=url, pruner="none", keep_best=1,
    )  # fmt: skip
    store = TrialStore(url)
    store.ensure_study("bench", "fashion_mnist", 1, {})
    study = optuna.create_study(
        study_name="bench", storage=url, direction="maximize", pruner=optuna.pruners.NopPruner()
    )
    keeper = ArtifactKeeper(store, "bench", folder / "artifacts", 1)
    objective = Objective(config, data, store, keeper, deadline=None)
    params = ModelParams.from_dict(
        {**default, "filters": [default[f"filters_{i}"] for i in range(default["n_blocks"])]}
    )

    def bare() -> float:
        keras.utils.set_random_seed(0)
        started = time.perf_counter()
        model = build_model(params, data.input_shape, data.num_classes)
        compile_model(model, params)
        schedule = BudgetCosine(params.learning_rate, args.epochs)
        model.fit(
            data.model_input(data.x_train), data.y_train, batch_size=params.batch_size,
            epochs=args.epochs, validation_data=(data.model_input(data.x_val), data.y_val), verbose=0, callbacks=[schedule],
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        keras.backend.clear_session()
        return elapsed / args.epochs

    def project() -> float:
        study.enqueue_trial(default)
        started = time.perf_counter()
        study.optimize(objective, n_trials=1)
        return (time.perf_counter() - started) / args.epochs

    bare_times, project_times = [], []
    for repeat in range(args.repeats):
        bare_times.append(bare())
        project_times.append(project())
        print(
            f"repeat {repeat}: bare {bare_times[-1]:.2f} s/epoch, project {project_times[-1]:.2f} s/epoch",
            flush=True,
        )
    ratio = statistics.median(project_times) / statistics.median(bare_times)
    print(
        f"median per-epoch: bare model.fit {statistics.median(bare_times):.2f} s, "
        f"project trial path {statistics.median(project_times):.2f} s, "
        f"overhead {100 * (ratio - 1):+.1f}% ({args.repeats} alternating repeats x {args.epochs} epochs)"
    )


if __name__ == "__main__":
    main()
