"""The cost meter's decisions on a made-up clock, and which epoch a trial keeps: no training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from automl.search import _callbacks
from automl.search._callbacks import CostMeter, FitAbandoned, TrialReporter
from storage import TrialStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


def _run(meter: CostMeter, clock: Clock, step_seconds: list[float]) -> int:
    """Feed the meter a fit whose steps take these times; the steps run before it gave up."""
    meter.set_params({"steps": 1000, "epochs": 1})
    meter.on_train_begin()
    meter.on_epoch_begin(0)
    for batch, seconds in enumerate(step_seconds):
        try:
            meter.on_train_batch_begin(batch)
        except FitAbandoned:
            return batch
        clock.now += seconds
    return len(step_seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(_callbacks, "time", clock)
    return clock


def test_one_slow_step_does_not_drop_a_candidate(clock: Clock) -> None:
    """Batch 64 at a limit of 1 ms per image: steps of 0.05 s pass, one of 0.1 s does not
    decide (a single slow step dropped the strong default on CI's kind of host)."""
    meter = CostMeter(64, max_seconds_per_image=0.001)
    warmup = [2.0, 0.05, 0.05]  # the first step traces the graph: never counted
    ran = _run(meter, clock, [*warmup, 0.1, 0.05, 0.05, 0.06, 0.05, *[0.05] * 50])
    assert ran == 58 and not meter.too_slow
    assert meter.cost.seconds_per_image == pytest.approx((0.1 + 0.06 + 0.05 * 53) / 55 / 64)


def test_a_slow_stretch_of_a_busy_host_does_not_drop_a_candidate(clock: Clock) -> None:
    """Trial 7's net, measured at 0.86 ms per image in all, was dropped after a stretch of slow
    steps on a busy host, when the meter looked at the last twenty only."""
    meter = CostMeter(64, max_seconds_per_image=0.001)
    ran = _run(meter, clock, [2.0, *[0.05] * 60, *[0.1] * 40, *[0.05] * 20])
    assert ran == 121 and not meter.too_slow


def test_a_steadily_slow_candidate_is_dropped_after_a_few_steps(clock: Clock) -> None:
    meter = CostMeter(64, max_seconds_per_image=0.001)
    ran = _run(meter, clock, [2.0, 0.1, 0.1, *[0.1] * 50])
    assert meter.too_slow and meter.median_seconds_per_image == pytest.approx(0.1 / 64)
    assert ran == 2 + CostMeter.DECISION_STEPS  # two steps of warm-up, then five timed


def test_a_fit_that_cannot_end_in_time_is_given_up(clock: Clock) -> None:
    # 1,000 steps of 0.05 s need 50 s; 20 s are left.
    meter = CostMeter(64, until=clock.now + 20.0)
    ran = _run(meter, clock, [0.05] * 100)
    assert meter.cannot_finish and not meter.too_slow
    assert ran == 2 + CostMeter.DECISION_STEPS


def test_steps_timed_while_a_spare_worker_gets_ready_decide_nothing(clock: Clock) -> None:
    """A net of 0.9 ms per image ran at 1.5 ms beside a worker getting ready: those steps neither drop it nor make its cost, unless no others were timed."""
    ready_at = clock.now + 2.0 + 20 * 0.1  # tracing, then 20 slow steps
    meter = CostMeter(64, max_seconds_per_image=0.001, host_busy=lambda: clock.now < ready_at)
    ran = _run(meter, clock, [2.0, *[0.1] * 20, *[0.05] * 30])
    assert ran == 51 and not meter.too_slow
    assert meter.cost.seconds_per_image == pytest.approx(0.05 / 64)
    # The same fit on a host busy all along: no decision, the slow steps make the cost.
    busy = CostMeter(64, max_seconds_per_image=0.001, host_busy=lambda: True)
    assert _run(busy, clock, [2.0, *[0.1] * 20]) == 21 and not busy.too_slow
    assert busy.cost.seconds_per_image == pytest.approx(0.1 / 64)
    # ...and once the host is free, the meter decides on the free steps alone.
    freed = clock.now + 2.0 + 10 * 0.05
    late = CostMeter(64, max_seconds_per_image=0.001, host_busy=lambda: clock.now < freed)
    assert _run(late, clock, [2.0, *[0.05] * 10, *[0.1] * 20]) == 11 + 1 + CostMeter.DECISION_STEPS
    assert late.too_slow


@pytest.mark.parametrize("keep_last", [False, True])
def test_a_final_run_keeps_its_last_epoch_others_their_best(tmp_path: Path, keep_last) -> None:
    """Validation scores 0.90 then 0.80: a screening or trial-count run restores the first
    epoch's weights; the final run keeps the second's, whose learning rate reached its floor."""
    store = TrialStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.ensure_study("t", "digits", 1, {})
    record = store.start_trial("t", 0, phase="final" if keep_last else "search")
    trial = SimpleNamespace(report=lambda value, step: None, should_prune=lambda: False)
    reporter = TrialReporter(trial, store, record.id, keep_last=keep_last)  # type: ignore[arg-type]
    restored: list = []
    reporter.set_model(
        SimpleNamespace(
            optimizer=SimpleNamespace(learning_rate=1e-3),
            stop_training=False,
            get_weights=lambda: [f"weights after epoch {reporter.epochs_run}"],
            set_weights=restored.append,
        )
    )
    for epoch, score in enumerate([0.90, 0.80]):
        reporter.on_epoch_begin(epoch)
        reporter.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.9, "val_accuracy": score})
    reporter.on_train_end()
    if keep_last:
        assert (reporter.best_value, reporter.best_epoch, restored) == (0.80, 2, [])
    else:
        assert (reporter.best_value, reporter.best_epoch) == (0.90, 1)
        assert restored == [["weights after epoch 1"]]
    assert [e.val_accuracy for e in store.epochs("t")] == [0.90, 0.80]
    store.close()
