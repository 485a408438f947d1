"""Which epoch should a final run keep: its best-validation one, or its last?

The small-data net on the stratified 4,000-image Fashion-MNIST subset (400 validation images),
trained from scratch for the final's time there with the final's schedule (cosine to the
deadline), scored on the test split after every epoch (which slows its epochs). Prints, per
seed, the test accuracy at the best-validation epoch and at the last one.

    .venv/bin/python bench/bench_final_epoch.py --seeds 0,1,2 --seconds 225
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench_search import CASES, as_model_params, prepare_data, train_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--seconds", type=float, default=225.0)
    args = parser.parse_args()

    from automl._quiet import quiet_logs

    quiet_logs()
    import keras

    from automl.data import evaluation_dataset, get_task
    from automl.search import small_data_default

    with tempfile.TemporaryDirectory() as folder:
        data = get_task("fashion_mnist").load(prepare_data(CASES["fm-4k"], Path(folder)), 0.1, 0)
    params = as_model_params(small_data_default(data.input_shape))
    test = evaluation_dataset(data.x_test, data.y_test, scale=data.pixel_scale)

    class ScoreEachEpoch(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.scores: list[tuple[float, float]] = []  # (validation, test) accuracy

        def on_epoch_end(self, epoch, logs=None) -> None:
            _, accuracy = self.model.evaluate(test, verbose=0)
            self.scores.append((logs["val_accuracy"], accuracy))

    for seed in (int(s) for s in args.seeds.split(",")):
        scores = ScoreEachEpoch()
        train_for(data, params, args.seconds, seed=seed, callbacks=[scores])
        validation = [v for v, _ in scores.scores]
        best = validation.index(max(validation))  # the first best, as the trial reporter keeps
        print(
            json.dumps(
                {
                    "seed": seed,
                    "epochs": len(validation),
                    "best_epoch": best + 1,
                    "val_at_best": validation[best],
                    "test_at_best": scores.scores[best][1],
                    "val_last": validation[-1],
                    "test_last": scores.scores[-1][1],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
