"""The only door from the Keras training loop into Optuna and the trial store."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import optuna

from storage import TrialStore

MONITOR = "val_accuracy"


class BudgetCosine:
    """Cosine learning-rate decay over the epochs that will really run.

    Normally that is the trial's epoch budget. When the search's deadline would cut training
    short, the plan shrinks to the epochs that still fit (measured from the epochs so far), so
    a trial stopped by the clock still ends with a decayed learning rate, not mid-schedule.
    For ``keras.callbacks.LearningRateScheduler``.
    """

    def __init__(
        self, base_lr: float, epochs: int, deadline: float | None = None, floor: float = 0.05
    ) -> None:
        self.base_lr, self.epochs, self.deadline, self.floor = base_lr, epochs, deadline, floor
        self.started: float | None = None
        self.planned = epochs

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        now = time.time()
        if self.started is None:
            self.started = now
        if self.deadline is not None and epoch > 0:
            per_epoch = (now - self.started) / epoch
            fits = epoch + int(max(0.0, self.deadline - now) / per_epoch)
            self.planned = max(epoch + 1, min(self.planned, fits))
        progress = min(1.0, epoch / max(1, self.planned - 1))
        return self.base_lr * (
            self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))
        )


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
    """

    # Its batch hook only reads the clock: Keras may keep dispatching steps asynchronously.
    async_safe = True

    def __init__(
        self,
        trial: optuna.Trial,
        store: TrialStore,
        trial_id: int,
        deadline: float | None = None,
    ) -> None:
        """``deadline`` is a ``time.time()`` instant: workers are separate processes."""
        super().__init__()
        self.trial = trial
        self.store = store
        self.trial_id = trial_id
        self.deadline = deadline
        self.best_value = -math.inf
        self.best_epoch: int | None = None
        self.epochs_run = 0
        self.pruned_at: int | None = None
        self.nan_at: int | None = None
        self.deadline_hit = False
        self._best_weights: list[np.ndarray] | None = None
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # The search's deadline is checked every batch, not every epoch: a slow epoch must not
        # overrun the user's budget. Keras still validates the partial epoch and ends it.
        if self.deadline is not None and time.time() >= self.deadline:
            self.deadline_hit = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        step = epoch + 1  # epochs are counted from 1 everywhere a user sees them
        self.epochs_run = step
        self.store.record_epoch(
            self.trial_id,
            step,
            seconds=time.perf_counter() - self._epoch_started,
            loss=logs.get("loss"),
            accuracy=logs.get("accuracy"),
            val_loss=logs.get("val_loss"),
            val_accuracy=logs.get(MONITOR),
            learning_rate=self._learning_rate(),
        )
        value = logs.get(MONITOR)
        if value is None or not math.isfinite(value) or not math.isfinite(logs.get("loss", 0.0)):
            self.nan_at = step
            self.model.stop_training = True
            return
        if value > self.best_value:
            self.best_value, self.best_epoch = float(value), step
            self._best_weights = self.model.get_weights()
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._best_weights is not None and self.pruned_at is None:
            self.model.set_weights(self._best_weights)

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return None
