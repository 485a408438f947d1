"""The trials page's parameter filter at scale: a parameter's values and range read from the
study's kept lists (migration 0007) against a scan of every trial, alternately.

    .venv/bin/python bench/bench_param_values.py --trials 50000 [--storage URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dashboard import build_study

from storage import TrialStore

READS = [
    ("values", "optimizer"),
    ("values", "activation"),
    ("bounds", "learning_rate"),
    ("bounds", "dense_units"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--storage", help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    url = args.storage or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    build_study(url, "big", args.trials, 3, param_values=False)
    store = TrialStore(url)
    read = {"values": store.param_values, "bounds": store.param_bounds}
    times: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.repeats):
        for mode in ("scan", "kept"):
            if mode == "scan":  # no lists: the store reads the trials themselves
                with store.engine.begin() as conn:
                    conn.execute(text("DELETE FROM automl_param_values"))
                    conn.execute(text("DELETE FROM automl_param_ranges"))
            else:
                store.rebuild_param_values("big")
            for kind, name in READS:
                began = time.perf_counter()
                read[kind]("big", name)
                times.setdefault((kind, name, mode), []).append(time.perf_counter() - began)
    began = time.perf_counter()
    store.rebuild_param_values("big")
    print(f"{args.trials:,} trials; lists rebuilt from them in {time.perf_counter() - began:.2f} s")
    for kind, name in READS:
        scan, kept = (statistics.median(times[(kind, name, m)]) * 1000 for m in ("scan", "kept"))
        print(f"{kind} {name:14s} scan {scan:7.1f} ms   kept {kept:6.1f} ms")


if __name__ == "__main__":
    main()
