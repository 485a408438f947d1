"""Dashboard speed on big studies: every page, cold and warm, on SQLite or PostgreSQL.

Builds a study of N trials x E epochs with the real search space's parameters (bulk inserts:
the store API writes one epoch per transaction), then runs each dashboard page in-process with
Streamlit's AppTest, as a browser session would: cold (the dashboard's caches cleared) and
warm (the same page again). Memory is this process's resident set after all pages, with the study's caches held.

    .venv/bin/python bench/bench_dashboard.py --trials 50000 --epochs 30 [--storage URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select, text

from storage import TrialStore
from storage._models import ArtifactRow, EpochRow, EvaluationRow, TrialRow
from storage._session import make_session_factory, session_scope

ROOT = Path(__file__).resolve().parents[1]
CLASSES = [str(c) for c in range(10)]


def random_params(rng: random.Random) -> dict:
    """Parameters as the search records them (``ModelParams.to_dict``)."""
    n_blocks = rng.randint(1, 3)
    return {
        "n_blocks": n_blocks,
        "filters": [rng.choice((16, 32, 48, 64, 96, 128)) for _ in range(n_blocks)],
        "convs_per_block": rng.randint(1, 3),
        "kernel_size": rng.choice((3, 5)),
        "batch_norm": rng.random() < 0.5,
        "activation": rng.choice(("relu", "leaky_relu", "silu", "elu")),
        "pooling": rng.choice(("max", "avg")),
        "dropout": rng.uniform(0.0, 0.5),
        "head": rng.choice(("flatten", "gap")),
        "dense_units": rng.choice((0, 64, 128, 256)),
        "head_dropout": rng.uniform(0.0, 0.6),
        "optimizer": rng.choice(("adam", "adamw", "sgd")),
        "learning_rate": 10 ** rng.uniform(-4, -1.5),
        "weight_decay": 10 ** rng.uniform(-6, -2),
        "batch_size": rng.choice((64, 128, 256)),
    }


def build_study(
    url: str,
    study: str = "big",
    n_trials: int = 5000,
    n_epochs: int = 30,
    seed: int = 0,
    *,
    param_values: bool = True,
) -> None:
    """A timed search's study: screening trials of every state on data fractions, a few final
    runs, the best ones with models and test evaluations. Values depend on the parameters, so
    the analysis charts have something to find. Trials go in bulk, past the store; with
    ``param_values`` the store then lists their parameters' values as a search's would be."""
    rng = random.Random(seed)
    store = TrialStore(url)
    study_id = store.ensure_study(study, "fashion_mnist", 3, {"trials": n_trials}).id
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    trials, curves = [], {}
    for number in range(n_trials):
        params = random_params(rng)
        final = number % 1000 == 999
        state = "COMPLETE" if final else rng.choice(("COMPLETE", "PRUNED", "PRUNED", "FAIL"))
        ceiling = 0.80 + 0.12 * rng.random() - 0.03 * abs(params["learning_rate"] - 0.003) * 100
        ran = n_epochs if state == "COMPLETE" else rng.randint(1, n_epochs - 1)
        curve = [ceiling * (1 - 0.5 ** (e / 3)) for e in range(1, ran + 1)]
        began = start + timedelta(seconds=30 * number)
        trials.append(
            {
                "study_id": study_id, "number": number, "state": state, "params": params,
                "param_count": 2_000 * 4 ** params["n_blocks"] + rng.randint(0, 200_000),
                "value": None if state == "FAIL" else max(curve), "best_epoch": ran,
                "epochs_run": ran, "pruned_at_epoch": ran if state == "PRUNED" else None,
                "started_at": began, "finished_at": began + timedelta(seconds=25),
                "updated_at": began + timedelta(seconds=25), "duration_s": 25.0,
                "reason": "loss became NaN or infinite" if state == "FAIL" else None,
                "phase": "final" if final else "screening", "data_fraction": 1.0 if final else 0.25,
                "images_seen": ran * (54_000 if final else 13_500),
            }
        )  # fmt: skip
        curves[number] = (curve, final)
    sessions = make_session_factory(store.engine)
    with session_scope(sessions) as session:
        session.execute(insert(TrialRow), trials)
    with session_scope(sessions) as session:
        ids = dict(
            session.execute(
                select(TrialRow.number, TrialRow.id).where(TrialRow.study_id == study_id)
            ).all()
        )
    batch: list[dict] = []
    for number, (curve, final) in curves.items():
        per_epoch = 54_000 if final else 13_500
        for epoch, value in enumerate(curve, start=1):
            batch.append(
                {
                    "trial_id": ids[number], "epoch": epoch, "loss": 1 / epoch,
                    "accuracy": min(1.0, value + 0.02), "val_loss": 1.1 / epoch,
                    "val_accuracy": value, "learning_rate": 1e-3, "seconds": 0.8,
                    "data_fraction": 1.0 if final else 0.25, "images_seen": epoch * per_epoch,
                    "recorded_at": start,
                }
            )  # fmt: skip
        if len(batch) >= 100_000:
            with session_scope(sessions) as session:
                session.execute(insert(EpochRow), batch)
            batch = []
    if batch:
        with session_scope(sessions) as session:
            session.execute(insert(EpochRow), batch)
    best = sorted((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: -t["value"])[:3]
    with session_scope(sessions) as session:
        for t in best:
            trial_id = ids[t["number"]]
            session.add(
                ArtifactRow(trial_id=trial_id, location=f"/models/trial-{t['number']:05d}.keras",
                            size_bytes=1_000_000, sha256="ab" * 32)
            )  # fmt: skip
            session.add(
                EvaluationRow(
                    trial_id=trial_id, accuracy=t["value"] - 0.01, macro_f1=t["value"] - 0.012,
                    per_class={"class_names": CLASSES, "precision": [0.9] * 10,
                               "recall": [0.9] * 10, "f1": [0.9] * 10, "support": [1000] * 10},
                    confusion=[[900 if i == j else 11 for j in range(10)] for i in range(10)],
                )
            )  # fmt: skip
    store.promote(study, best[0]["number"], "bench")
    if param_values:
        store.rebuild_param_values(study)
    if not url.startswith("sqlite"):
        with store.engine.connect() as conn:  # what autovacuum does a minute after a bulk load
            conn.execute(text("ANALYZE"))
            conn.commit()
    store.close()


VIEWS = {
    "studies": "app_pages/studies.py",
    "trials": "app_pages/trials.py",
    "compare (10 trials)": "app_pages/compare.py",
    "analysis": "app_pages/analysis.py",
    "trial & champion": "app_pages/champion.py",
}


def time_page(page: str, study: str, chosen: list[int]) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    app.session_state["study"] = study
    app.session_state["compare"] = chosen
    began = time.perf_counter()
    app.switch_page(page).run()
    elapsed = time.perf_counter() - began
    if app.exception:
        raise RuntimeError(f"{page}: {app.exception[0].message}")
    return elapsed


def explain(url: str, study: str) -> None:
    """The database's plan for each query behind the big-study reads: capture the SQL the
    store sends, then ask EXPLAIN (SQLite: EXPLAIN QUERY PLAN) about it."""
    from sqlalchemy import event

    from storage import TrialFilter

    store = TrialStore(url)
    sent: list[tuple[str, object]] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda c, cur, sql, params, *a: sent.append((sql, params))
    )  # fmt: skip
    reads = {
        "page: completed, best first": lambda: store.trial_page(
            study, TrialFilter(states=("COMPLETE",)), sort="value", descending=True, limit=200
        ),
        "page 300 by number": lambda: store.trial_page(study, offset=15_000, limit=50),
        "stamp": lambda: store.study_stamp(study),
        "10 trials by number": lambda: store.trials_by_numbers(study, range(0, 50_000, 5_000)),
        "epochs of 10 trials": lambda: store.epochs(study, list(range(0, 50_000, 5_000))),
    }
    sqlite = url.startswith("sqlite")
    for name, read in reads.items():
        sent.clear()
        read()
        print(f"-- {name}")
        with store.engine.connect() as conn:
            driver = conn.connection.dbapi_connection
            for sql, params in sent:
                if (
                    not sql.lstrip().upper().startswith("SELECT")
                    or "automl_studies" in sql.split("WHERE")[0]
                ):
                    continue  # the study-name lookup is a unique-index hit
                cursor = driver.cursor()
                cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql, params)
                plan = [" ".join(map(str, row[-1:])) for row in cursor.fetchall()]
                print("   " + "\n   ".join(plan))
    store.close()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument(
        "--storage", help="a database URL (an empty PostgreSQL database); default: a new SQLite"
    )
    args = parser.parse_args()

    url = (
        args.storage or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-dashboard-')) / 'big.db'}"
    )
    started = time.perf_counter()
    build_study(url, "big", args.trials, args.epochs)
    backend = url.split(":", 1)[0]
    print(
        f"{backend}: built {args.trials} trials x {args.epochs} epochs in "
        f"{time.perf_counter() - started:.0f} s"
    )
    if args.explain:
        explain(url, "big")
    os.environ["AUTOML_STORAGE"] = url
    import streamlit as st

    logging.disable(logging.WARNING)  # AppTest outside a server warns on every call
    from dashboard import data

    chosen = list(range(0, args.trials, args.trials // 10))[:10]
    print(f"before the pages: {rss_mb():.0f} MB resident")
    for name, page in VIEWS.items():
        cold, warm = [], []
        for _ in range(args.repeats):
            # Cold: every cache of the dashboard's own emptied (its store too), Streamlit's
            # left warm: clearing all cache_resource makes AppTest rescan the installed
            # packages for components (0.4 s here), which a server does once at start.
            st.cache_data.clear()
            data.clear_resources()
            cold.append(time_page(page, "big", chosen))
            warm.append(time_page(page, "big", chosen))
        print(
            f"{name:22s} cold median {statistics.median(cold):.3f} s (max {max(cold):.3f}), "
            f"warm median {statistics.median(warm):.3f} s over {args.repeats}"
        )
    print(
        f"after the pages: {rss_mb():.0f} MB resident, peak "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
