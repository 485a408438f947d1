"""The only door from the Keras training loop into Optuna and the trial store."""

from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Callable

import keras
import numpy as np
import optuna

from automl.search._budget import Cost
from storage import TrialStore

MONITOR = "val_accuracy"


class BudgetCosine(keras.callbacks.Callback):
    """Cosine learning-rate decay over the epochs that will really run, set at each epoch.

    Without a deadline those are ``epochs``. With one, the plan is measured again at every
    epoch from the pace of the last few (growing or shrinking, at most ``epochs``), so a run
    whose first epochs were slow (tracing, a busy host) still uses all its time; the decay
    left is spread over the epochs left, so the rate never rises when the plan grows. With a
    deadline the time left after the last whole epoch is used too: when at least
    ``PARTIAL_MIN`` of an epoch fits, one more epoch runs at the floor rate and is cut short so
    that its validation ends at the deadline; otherwise training ends after the last whole
    epoch. Either way the rate is at its floor when the time is up.
    """

    PACE_EPOCHS = 3  # the median of this many recent epochs: one slow epoch does not count
    #: The least share of an epoch worth starting in the time left before the deadline.
    PARTIAL_MIN = 0.25
    # Its batch hook only reads the clock: Keras may keep dispatching steps asynchronously.
    async_safe = True

    def __init__(
        self, base_lr: float, epochs: int, deadline: float | None = None, floor: float = 0.05
    ) -> None:
        super().__init__()
        self.base_lr, self.epochs, self.deadline, self.floor = base_lr, epochs, deadline, floor
        self._planned = epochs
        self._progress = 0.0
        self.out_of_time = False  # it ended training: the next epoch would pass the deadline
        self._begins: list[float] = []
        self._validations: list[float] = []  # seconds each epoch's validation took
        self._test_started = 0.0
        self._cut_at: float | None = None  # a last, partial epoch stops training then
        self._last_batch_end: float | None = None

    def rate(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based); called once per epoch, in order."""
        now = time.time()
        self._begins.append(now)
        pace = self._pace(self._begins)
        if pace is not None:
            fits = epoch + self._epochs_that_fit(self.deadline - now, pace)  # type: ignore[operator]
            self._planned = max(epoch + 1, min(self.epochs, fits))
        if epoch > 0:
            self._progress += (1.0 - self._progress) / max(1, self._planned - epoch)
        return self.base_lr * (
            self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * self._progress))
        )

    def _pace(self, marks: list[float]) -> float | None:
        """Seconds per epoch lately, from the instants epochs began (and the last one ended)."""
        # Never the first epoch's: it holds the tracing, on small data many epochs' worth (the
        # deadline still stops a fit that the second epoch cannot end in time).
        gaps = np.diff(marks)[1:]
        if self.deadline is None or not len(gaps):
            return None
        return float(np.median(gaps[-self.PACE_EPOCHS :]))

    def _epochs_that_fit(self, seconds: float, pace: float) -> int:
        """Whole epochs in ``seconds``, and a partial one if at least PARTIAL_MIN of it fits."""
        whole, part = divmod(max(0.0, seconds) / pace, 1.0)
        return int(whole) + (1 if part >= self.PARTIAL_MIN else 0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate(epoch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._cut_at is None:
            return
        now = time.time()
        step = now - self._last_batch_end if self._last_batch_end is not None else 0.0
        self._last_batch_end = now
        if now + step >= self._cut_at:  # the next batch would end past it
            self.model.stop_training = self.out_of_time = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._test_started = time.time()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._validations.append(time.time() - self._test_started)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.time()
        pace = self._pace([*self._begins, now])
        if self._cut_at is not None:  # the partial epoch has ended
            self.model.stop_training = self.out_of_time = True
            return
        if pace is None or now + pace <= self.deadline:  # type: ignore[operator]
            return
        left = self.deadline - now  # type: ignore[operator]
        if epoch + 1 < self.epochs and left >= self.PARTIAL_MIN * pace:
            # One more epoch, cut short so that its validation (as long as the last one's)
            # ends at the deadline.
            self._cut_at = self.deadline - (self._validations[-1] if self._validations else 0.0)
        else:
            self.model.stop_training = self.out_of_time = True


class AsyncTerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras' TerminateOnNaN, declared safe for async dispatch.

    A callback with a batch hook otherwise makes Keras convert every step's logs to Python
    synchronously (a device sync per batch on a GPU); this one only reads the loss and sets
    ``stop_training``, so a step or two of delay is harmless.
    """

    async_safe = True


class TrialReporter(keras.callbacks.Callback):
    """Each epoch: write its metrics to the store, report to Optuna, ask the pruner.

    It never raises inside ``fit``: it stops training and leaves the outcome in attributes
    (``pruned_at``, ``nan_at``, ``deadline_hit``) for the trial runner to turn into a state.
    It also keeps the weights of the best ``val_accuracy`` epoch and restores them at the end,
    so the saved model scores exactly the trial's recorded value.

    With ``keep_last`` (the final run) the last epoch is the one kept and recorded instead: its
    learning rate has reached the schedule's floor, and the best-scoring epoch of a small
    validation split is mostly luck. On 400 validation images the best epoch came 6-8 epochs
    before the end and scored 0.2-0.6 points lower on the test split than the last, 3 seeds
    of 3 (BENCHMARKS.md, "The final run keeps its last epoch").
    """

    # Its batch hook only reads the clock: Keras may keep dispatching steps asynchronously.
    async_safe = True

    def __init__(
        self,
        trial: optuna.Trial,
        store: TrialStore,
        trial_id: int,
        deadline: float | None = None,
        *,
        keep_last: bool = False,
    ) -> None:
        """``deadline`` is a ``time.time()`` instant: workers are separate processes."""
        super().__init__()
        self.trial = trial
        self.store = store
        self.trial_id = trial_id
        self.deadline = deadline
        self.keep_last = keep_last
        self.best_value = -math.inf
        self.best_epoch: int | None = None
        self.epochs_run = 0
        self.pruned_at: int | None = None
        self.nan_at: int | None = None
        self.deadline_hit = False
        self._best_weights: list[np.ndarray] | None = None
        self._epoch_started = 0.0
        self._batches = 0  # batches of the current epoch so far
        # What the next fit trains on; set by ``use`` (a screening trial changes it per rung).
        self.data_fraction = 1.0
        self.images_per_epoch = 0
        self.images_seen = 0
        self._report_step: Callable[[int], int | None] = lambda step: step
        #: Epochs already recorded by an earlier fit of this trial with another model (a
        #: pretrained head's, before fine-tuning): this fit's epochs are numbered after them.
        self.epoch_offset = 0

    def use(
        self, data_fraction: float, images_per_epoch: int, report_step: Callable[[int], int | None]
    ) -> None:
        """Before a fit: its share of the data, and at which pruner step each epoch reports
        (``None``: that epoch does not report)."""
        self.data_fraction, self.images_per_epoch = data_fraction, images_per_epoch
        self._report_step = report_step

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches = batch + 1
        # The search's deadline is checked every batch, not every epoch: a slow epoch must not
        # overrun the user's budget. Keras still validates the partial epoch and ends it.
        if self.deadline is not None and time.time() >= self.deadline:
            self.deadline_hit = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        step = epoch + 1 + self.epoch_offset  # counted from 1 everywhere a user sees them
        self.epochs_run = step
        steps = (getattr(self, "params", None) or {}).get("steps")
        if steps and 0 < self._batches < steps:  # an epoch cut short: the images it trained on
            self.images_seen += round(self.images_per_epoch * self._batches / steps)
        else:
            self.images_seen += self.images_per_epoch
        self.store.record_epoch(
            self.trial_id,
            step,
            seconds=time.perf_counter() - self._epoch_started,
            loss=logs.get("loss"),
            accuracy=logs.get("accuracy"),
            val_loss=logs.get("val_loss"),
            val_accuracy=logs.get(MONITOR),
            learning_rate=self._learning_rate(),
            data_fraction=self.data_fraction,
            images_seen=self.images_seen,
        )
        value = logs.get(MONITOR)
        if not math.isfinite(logs.get("loss", 0.0)) or (
            value is not None and not math.isfinite(value)
        ):
            self.nan_at = step
            self.model.stop_training = True
            return
        if value is None:  # not validated: a screening rung scores its last epoch only
            return
        if self.keep_last:
            self.best_value, self.best_epoch = float(value), step
        elif value > self.best_value:
            self.best_value, self.best_epoch = float(value), step
            self._best_weights = self.model.get_weights()
        report_step = self._report_step(step)
        if report_step is None:
            return
        self.trial.report(float(value), report_step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.pruned_at is None:
            self.restore_best()

    def restore_best(self) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return None


class FitAbandoned(Exception):
    """Raised by ``CostMeter`` to end a fit at once: validating a fit that is given up wastes
    the budget. The trial runner turns it into the trial's outcome."""


class CostMeter(keras.callbacks.Callback):
    """Measures what training this candidate costs, from its first batches on.

    Times are taken at the start of each batch, which Keras calls in the training thread even
    when batch ends are dispatched asynchronously: the gap between two starts is one step. It
    raises ``FitAbandoned`` when the pace says the fit cannot end by ``until``
    (``cannot_finish``), or when the candidate is slower per image than
    ``max_seconds_per_image`` (``too_slow``). The pace it decides on is the median of all the
    candidate's timed steps, once there are ``DECISION_STEPS`` of them: one step can take 1.4
    times another of the same fit, and on a busy host a stretch of steps runs slower; either
    dropped candidates that were fast enough.

    Steps timed while ``host_busy()`` said so (the next worker getting ready beside this one:
    1.6 times slower steps for 12 s on 2 cores) decide nothing, and
    make the cost only if no other step was timed.
    """

    async_safe = True  # no batch-end hook
    WARMUP_BATCHES = 3  # the first steps of a fit include tracing: not counted
    DECISION_STEPS = 5

    def __init__(
        self,
        batch_size: int,
        *,
        until: float | None = None,
        max_seconds_per_image: float | None = None,
        host_busy: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.until = until
        self.max_seconds_per_image = max_seconds_per_image
        self.host_busy = host_busy
        self.cannot_finish = False
        self.too_slow = False
        self.median_seconds_per_image: float | None = None  # what it last decided on
        self._sorted_steps: list[float] = []  # a screening candidate's few hundred steps
        self._busy_steps: list[float] = []
        self._validation_seconds: list[float] = []
        self._last_start: float | None = None
        self._busy_since_last_start = False

    @property
    def cost(self) -> Cost | None:
        steps = self._sorted_steps or self._busy_steps
        if not steps:
            return None
        per_image = math.fsum(steps) / (len(steps) * self.batch_size)
        return Cost(per_image, self._validation_estimate())

    def _validation_estimate(self) -> float:
        return float(np.median(self._validation_seconds)) if self._validation_seconds else 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._fit_batches = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._last_start = None  # the gap across an epoch's end holds validation, not a step

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        busy = self.host_busy()
        if self._last_start is not None and self._fit_batches >= self.WARMUP_BATCHES:
            step = now - self._last_start
            contended = busy or self._busy_since_last_start
            bisect.insort(self._busy_steps if contended else self._sorted_steps, step)
        self._last_start, self._busy_since_last_start = now, busy
        self._fit_batches += 1
        if self.until is not None and time.time() >= self.until:
            self.cannot_finish = True
            raise FitAbandoned("out of time")
        if len(self._sorted_steps) < self.DECISION_STEPS:
            return
        per_image = statistics.median(self._sorted_steps) / self.batch_size
        self.median_seconds_per_image = per_image
        if self.max_seconds_per_image is not None and per_image > self.max_seconds_per_image:
            self.too_slow = True
            raise FitAbandoned("too slow")
        if (
            self.until is not None
            and time.time() + self._seconds_left(batch, per_image) > self.until
        ):
            self.cannot_finish = True
            raise FitAbandoned("cannot finish in time")

    def _seconds_left(self, batch: int, seconds_per_image: float) -> float:
        steps = self.params.get("steps") or 0
        epochs_after = self.params.get("epochs", 1) - self._epoch - 1
        batches_left = max(0, steps - batch) + epochs_after * steps
        # the fit validates once, at its end (a screening rung)
        return batches_left * self.batch_size * seconds_per_image + self._validation_estimate()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._test_started = time.perf_counter()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._validation_seconds.append(time.perf_counter() - self._test_started)
