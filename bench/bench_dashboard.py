"""Dashboard read speed on a large store: 5,000 trials x 30 epochs.

Measures, through the same cached helpers the pages call (with their caches cleared, so every
figure is a cold read), the studies view, the trials view, and the Compare figure of 10 trials.

    .venv/bin/python bench/bench_dashboard.py [--trials 5000] [--epochs 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

from storage import TrialStore
from storage._models import EpochRow, TrialRow
from storage._session import make_session_factory, session_scope


def build_store(url: str, n_trials: int, n_epochs: int) -> None:
    """Bulk-load a realistic study (the store API writes one epoch per transaction: too slow)."""
    rng = random.Random(0)
    store = TrialStore(url)
    study = store.ensure_study("big", "fashion_mnist", 1, {})
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    states = ["COMPLETE", "PRUNED", "PRUNED", "FAIL"]
    trials = []
    for number in range(n_trials):
        state = states[number % 4]
        trials.append(
            {
                "study_id": study.id, "number": number, "state": state,
                "params": {"n_blocks": rng.randint(1, 4), "filters": [32, 64], "optimizer": rng.choice(["adam", "sgd"]),
                           "learning_rate": 10 ** rng.uniform(-4, -2), "batch_size": rng.choice([64, 128, 256])},
                "param_count": rng.randint(10_000, 2_000_000), "value": rng.uniform(0.5, 0.93),
                "best_epoch": n_epochs, "epochs_run": n_epochs, "started_at": start + timedelta(minutes=number),
                "finished_at": start + timedelta(minutes=number, seconds=50), "duration_s": 50.0,
            }
        )  # fmt: skip
    sessions = make_session_factory(store.engine)
    with session_scope(sessions) as session:
        session.execute(insert(TrialRow), trials)
    with session_scope(sessions) as session:
        ids = dict(session.query(TrialRow.number, TrialRow.id).all())
        rows = [
            {
                "trial_id": ids[number], "epoch": epoch, "loss": 1 / epoch, "accuracy": 0.9,
                "val_loss": 1.1 / epoch, "val_accuracy": 0.88, "learning_rate": 1e-3, "seconds": 20.0,
                "recorded_at": start,
            }
            for number in range(n_trials)
            for epoch in range(1, n_epochs + 1)
        ]  # fmt: skip
        session.execute(insert(EpochRow), rows)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    url = f"sqlite:///{folder / 'big.db'}"
    started = time.perf_counter()
    build_store(url, args.trials, args.epochs)
    print(
        f"built {args.trials} trials x {args.epochs} epochs in {time.perf_counter() - started:.1f} s"
    )
    os.environ["AUTOML_STORAGE"] = url

    import streamlit as st

    from dashboard import data, views

    # Outside `streamlit run` every cached call warns that there is no runtime: expected here.
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)

    records = data.trial_records(url, "big")
    chosen = tuple(t.number for t in records[:: len(records) // 10][:10])

    def studies() -> None:
        data.studies_frame(url)

    def trials() -> None:
        data.trials_frame(url, "big")

    def compare() -> None:
        epochs = data.epochs_frame(url, "big", chosen)
        views.curves_figure(
            epochs,
            [t for t in data.trial_records(url, "big") if t.number in chosen],
            "val_accuracy",
        )

    for name, view in (
        ("studies view", studies),
        ("trials view", trials),
        ("compare figure (10 trials)", compare),
    ):
        times = []
        for _ in range(args.repeats):
            st.cache_data.clear()  # cold: what a user waits for when the short TTL has expired
            begun = time.perf_counter()
            view()
            times.append(time.perf_counter() - begun)
        print(
            f"{name}: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {args.repeats} cold loads"
        )


if __name__ == "__main__":
    main()
