"""Several worker processes on one study at once, through the real storage path (a stub
objective instead of training): nothing lost, nothing twice, every trial and epoch recorded."""

from __future__ import annotations

import sys
from pathlib import Path

# The load runner is the benchmark's (bench/bench_storage_load.py), run here with fewer trials;
# on sys.path so that its spawned worker processes import it too.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import bench_storage_load as load


def test_four_workers_on_postgresql(postgres_url: str) -> None:
    # 60 trials each: several seconds of all four writing at once (the benchmark runs 200).
    result = load.run_load(postgres_url, workers=4, trials_per_worker=60, epochs=3)
    assert result.problems == []
    assert result.trials == 240 and len(result.epoch_latencies) == 720


def test_two_workers_on_sqlite(tmp_path: Path) -> None:
    result = load.run_load(
        f"sqlite:///{tmp_path / 'load.db'}", workers=2, trials_per_worker=50, epochs=5
    )
    assert result.problems == []
