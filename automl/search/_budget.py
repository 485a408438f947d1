"""How a timed search spends its budget: screen many candidates cheaply, then train the best.

Screening runs candidates through rungs of growing fidelity: a fraction of the training split
(nested subsets, so a promoted candidate keeps training on a superset of what it saw) for a few
epochs. After each rung the candidate reports its validation accuracy to Optuna's pruner at the
rung's step (1, 3, 9, ... = reduction factor ** level), so successive halving keeps the best
third at each rung. The final phase trains the winner on the whole training split for as many
epochs as the time left allows, its learning rate reaching its floor at the deadline.

Everything here is plain arithmetic over measured costs: no clock, no Keras, no Optuna, so it
is tested with made-up costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np

REDUCTION_FACTOR = 3
#: Optuna user attributes: a trial enqueued for the final phase carries its phase and the cost
#: its configuration measured in screening.
PHASE_ATTR = "phase"
SECONDS_PER_IMAGE_ATTR = "seconds_per_image"
COST_ATTRS = (SECONDS_PER_IMAGE_ATTR, "validation_seconds")
#: Optuna user attribute of a final-phase trial: the most epochs it may train, when capped.
EPOCH_CAP_ATTR = "epoch_cap"
#: ...and the deadline of the run that queued it: one still queued after it (its run ended
#: before a worker took it) is closed untrained by the next run's first worker, instead of
#: training for that run's whole budget in place of its screening.
FINAL_DEADLINE_ATTR = "final_deadline"


@dataclass(frozen=True)
class Rung:
    level: int
    fraction: float  # of the training split
    epochs: int

    @property
    def step(self) -> int:
        """The resource reported to the pruner at the end of this rung."""
        return REDUCTION_FACTOR**self.level


#: 1/8 of the data for two epochs, then one epoch on 1/4 and one on 1/2 (nested): the whole
#: ladder trains on as many images as one full-data epoch. On 20 Fashion-MNIST configurations
#: the rungs' scores rank like 3 full-data epochs' (Spearman 0.92 / 0.98 / 0.97, BENCHMARKS.md).
SCREENING_RUNGS = (Rung(0, 0.125, 2), Rung(1, 0.25, 1), Rung(2, 0.5, 1))
#: A subset smaller than this says little (a few steps per epoch, batch-norm statistics that
#: never settle): small data sets screen on more of their data, down to all of it.
MIN_SUBSET_IMAGES = 4000


def epochs_through(step: int) -> int:
    """The epochs a screening candidate trained to report at pruner ``step`` (0: none)."""
    return sum(r.epochs for r in SCREENING_RUNGS if r.step <= step)


def screening_rungs(train_size: int) -> tuple[Rung, ...]:
    """The rungs for a training split of ``train_size`` images."""
    floor = min(1.0, MIN_SUBSET_IMAGES / max(1, train_size))
    return tuple(Rung(r.level, max(r.fraction, floor), r.epochs) for r in SCREENING_RUNGS)


#: The final run's share of a timed search's budget.
FINAL_SHARE = 0.5
#: On small data, more: a full-data epoch is cheap, so the final run gains from every extra
#: second, while 400 validation images can only tell apart leads that the first rungs show.
#: Fashion-MNIST, 4,000 images, 300 s: 0.8903 and 0.8945 against 0.8796 and 0.8789 with 0.5,
#: the same net in every final.
SMALL_DATA_FINAL_SHARE = 0.75
#: ...but never below this much screening: on a slow host the first rungs need it.
MIN_SCREENING_S = 60.0


def default_final_share(small_data: bool, timeout_s: float) -> float:
    """The final run's share when the user names none."""
    if small_data and (1.0 - SMALL_DATA_FINAL_SHARE) * timeout_s >= MIN_SCREENING_S:
        return SMALL_DATA_FINAL_SHARE
    return FINAL_SHARE


@dataclass(frozen=True)
class Cost:
    """A candidate's measured cost: training seconds per image, seconds per validation pass."""

    seconds_per_image: float
    validation_seconds: float = 0.0

    def epoch_seconds(self, images: int) -> float:
        return images * self.seconds_per_image + self.validation_seconds

    def rung_seconds(self, rung: Rung, train_size: int) -> float:
        """Its epochs as one pass over their images: a rung is validated once, after its last
        epoch (only that score is reported)."""
        return self.epoch_seconds(rung.epochs * math.ceil(rung.fraction * train_size))


@dataclass(frozen=True)
class BudgetPlan:
    """One run's budget, as ``time.time()`` instants (workers are separate processes)."""

    start: float
    deadline: float
    #: Share of the budget kept for the final phase; screening gets the rest.
    final_share: float = FINAL_SHARE
    #: A candidate whose full-data epochs would not fit this many times into the final phase
    #: is pruned in screening: it could not be trained properly even if it won.
    min_final_epochs: int = 5

    def __post_init__(self) -> None:
        if self.deadline <= self.start:
            raise ValueError("the deadline must come after the start")
        if not 0.0 < self.final_share < 1.0:
            raise ValueError(f"final_share must lie in (0, 1), got {self.final_share}")

    @classmethod
    def from_timeout(cls, start: float, timeout_s: float, **kwargs) -> BudgetPlan:
        return cls(start=start, deadline=start + timeout_s, **kwargs)

    @property
    def seconds(self) -> float:
        return self.deadline - self.start

    @property
    def screening_deadline(self) -> float:
        return self.start + (1.0 - self.final_share) * self.seconds

    @property
    def final_seconds(self) -> float:
        return self.deadline - self.screening_deadline

    def rung_fits(self, cost: Cost, rung: Rung, train_size: int, now: float) -> bool:
        """Start a rung only if it can finish before screening ends."""
        return now + cost.rung_seconds(rung, train_size) <= self.screening_deadline

    def max_seconds_per_image(self, train_size: int) -> float:
        """The slowest training pace at which ``min_final_epochs`` full-data epochs still fit
        into the final phase: a slower candidate is dropped in screening."""
        return self.final_seconds / (self.min_final_epochs * max(1, train_size))


@dataclass(frozen=True)
class NetSize:
    """What a candidate's training time per image grows with, known as soon as it is built."""

    multiply_adds: int  # convolutions and dense layers
    activation_values: int  # every layer's output: the per-value work of the other layers


#: Optuna user attributes: a candidate's ``NetSize``, which its measured pace calibrates for
#: the candidates after it.
SIZE_ATTRS = tuple(field.name for field in fields(NetSize))


#: A candidate is dropped before it trains only when its predicted pace is at least this far
#: over the limit: on 23 measured Fashion-MNIST candidates each prediction from the ones
#: measured before it was 0.47-1.36 times the measured pace, and one configuration measured
#: twice differs by 1.45x (BENCHMARKS.md, "A candidate's pace, predicted before it trains").
PREDICTION_MARGIN = 1.5
#: ...and only once this many candidates of the study were measured.
MIN_MEASURED = 3


def predicted_seconds_per_image(
    size: NetSize, measured: Iterable[tuple[NetSize, float]]
) -> float | None:
    """A candidate's training seconds per image on this host, from the candidates measured so
    far (their sizes, seconds per image): ``a x multiply-adds + b x activation values``, with
    a and b >= 0 fitted by non-negative least squares on relative errors. Large nets reach
    their multiply-adds' pace; on small ones the per-value layers dominate (a net of 0.3 M
    multiply-adds per image trained at 0.7-1.0 ms per image on a 2-core host, one of 8 M at
    1.3-1.9 ms). None until ``MIN_MEASURED`` candidates were measured."""
    from scipy.optimize import nnls  # here: the search's supervisor never predicts

    rows = [
        (s.multiply_adds / seconds, s.activation_values / seconds)
        for s, seconds in measured
        if seconds > 0 and (s.multiply_adds > 0 or s.activation_values > 0)
    ]
    if len(rows) < MIN_MEASURED:
        return None
    # Each row scaled by its measured time: a 10 % miss on a fast net weighs as on a slow one.
    (per_add, per_value), _ = nnls(np.array(rows), np.ones(len(rows)))
    return float(per_add * size.multiply_adds + per_value * size.activation_values)
