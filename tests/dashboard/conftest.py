from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest

from storage import TrialState, TrialStore

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = [
    "app_pages/studies.py",
    "app_pages/trials.py",
    "app_pages/compare.py",
    "app_pages/analysis.py",
    "app_pages/champion.py",
    "app_pages/data.py",
    "app_pages/monitoring.py",
]


def seed_store(url: str, n_trials: int = 12, epochs: int = 6, seed: int = 0) -> TrialStore:
    """A realistic store without training: study 'alpha' of every state, 'beta' all failed."""
    rng = random.Random(seed)
    store = TrialStore(url)
    store.ensure_study("alpha", "digits", 1, {"trials": n_trials})
    for number in range(n_trials):
        # A timed search: trial 0 is the final run on all the data, the rest screened on
        # fractions of it (1/8 for two epochs, then 1/4, then 1/2) of 8,000 images.
        phase = "final" if number == 0 else "screening"
        trial = store.start_trial("alpha", number, phase=phase)
        params = {
            "n_blocks": rng.randint(1, 3),
            "filters": [32, 64],
            "optimizer": rng.choice(["adam", "sgd", "adamw"]),
            "learning_rate": 10 ** rng.uniform(-4, -2),
            "batch_norm": rng.random() < 0.5,
        }
        store.set_trial_params(trial.id, params, rng.randint(5_000, 500_000))
        state = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAIL][
            number % 4
        ]
        if number == n_trials - 1:
            state = TrialState.RUNNING
        ceiling = 0.6 + 0.35 * rng.random()
        ran = (
            epochs
            if state in (TrialState.COMPLETE, TrialState.RUNNING)
            else rng.randint(1, epochs - 1)
        )
        best, seen = 0.0, 0
        for epoch in range(1, ran + 1):
            value = ceiling * (1 - math.exp(-epoch / 2))
            best = max(best, value)
            fraction = 1.0 if phase == "final" else (0.125, 0.25, 0.5)[min(2, (epoch - 1) // 2)]
            seen += int(8000 * fraction)
            store.record_epoch(
                trial.id,
                epoch,
                seconds=1.0,
                loss=1 / epoch,
                accuracy=value + 0.02,
                val_loss=1.2 / epoch,
                val_accuracy=value,
                learning_rate=1e-3,
                data_fraction=fraction,
                images_seen=seen,
            )
        if state is not TrialState.RUNNING:
            store.finish_trial(
                trial.id,
                state,
                value=best,
                best_epoch=ran,
                pruned_at_epoch=ran if state is TrialState.PRUNED else None,
                reason={
                    TrialState.PRUNED: f"pruned by the hyperband pruner after epoch {ran}",
                    TrialState.FAIL: "loss became NaN or infinite at epoch 2",
                }.get(state),
            )
    store.ensure_study("beta", "mnist", 1, {})
    for number in range(2):
        trial = store.start_trial("beta", number)
        store.finish_trial(trial.id, TrialState.FAIL, reason="ResourceExhaustedError: OOM")
    return store


@pytest.fixture
def seeded_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    seed_store(url).close()
    monkeypatch.setenv("AUTOML_STORAGE", url)
    return url


@pytest.fixture
def big_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A generated timed-search study of 300 trials (the dashboard benchmark's generator)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_dashboard import build_study

    url = f"sqlite:///{tmp_path / 'big.db'}"
    build_study(url, "big", n_trials=300, n_epochs=3, seed=2)
    monkeypatch.setenv("AUTOML_STORAGE", url)
    return url


@pytest.fixture(autouse=True)
def listening_on():
    """The dashboard's pages run as `automl dashboard` starts them, on loopback; a test calls
    this fixture's value with another address (None: every interface, `streamlit run`'s)."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)
