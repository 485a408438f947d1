"""Worker memory over a long study: one worker for every trial vs a fresh worker every 10.

TensorFlow keeps part of every model it builds even after `clear_session()`; the search
therefore replaces its worker process every `--trials-per-worker` trials. This runs the same
digits study twice and prints the worker's resident memory (recorded after each trial).

    .venv/bin/python bench/bench_memory.py [--trials 40]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()

    import optuna

    from automl import SearchConfig, run_search

    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    for per_worker in dict.fromkeys((args.trials, 10)):  # once when --trials is 10
        url = f"sqlite:///{folder / f'memory-{per_worker}.db'}"
        # Two databases, one study name: each keeps its models apart (a shared folder is refused).
        config = SearchConfig(
            task="digits", study_name="memory", trials=args.trials, epochs=2, timeout_s=None,
            storage_url=url, trials_per_worker=per_worker, sampler="random", pruner="none",
            artifacts=str(folder / f"artifacts-{per_worker}"),
        )  # fmt: skip
        run_search(config, log=lambda _message: None)
        trials = optuna.load_study(study_name="memory", storage=url).trials
        # A trial whose worker died records no memory.
        rss = [t.user_attrs.get("worker_rss_mb") for t in trials]
        marks = sorted({0, min(9, len(rss) - 1), len(rss) // 2, len(rss) - 1})
        shown = ", ".join(
            f"after trial {i + 1}: " + ("-" if rss[i] is None else f"{rss[i]:.0f} MB")
            for i in marks
        )
        peak = max((mb for mb in rss if mb is not None), default=None)
        print(f"trials per worker = {per_worker}: {shown}; peak {peak or 0:.0f} MB")


if __name__ == "__main__":
    main()
