"""Which screened candidate the final run trains: compared only at equal fidelity, and a
challenger must beat the first known-good configuration by more than the validation split
can tell apart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import optuna
from optuna.trial import TrialState as OptunaState

from automl.search._budget import COST_ATTRS, PHASE_ATTR, epochs_through
from automl.search._search_space import SMALL_DATA_IMAGES


@dataclass(frozen=True)
class Selection:
    """The candidate the final run trains, and what the study's log says of a close call
    (empty when the choice was clear)."""

    winner: optuna.trial.FrozenTrial | None
    note: str = ""


#: On SMALL_DATA_IMAGES training images or more a CNN's screening score understates its final run's
#: (Fashion-MNIST: 0.88 after the screening's rungs, about one full-data epoch's worth of
#: images; 0.944 after a 300 s final), while a head on pretrained features has converged by
#: then. There a head must lead the best CNN by more than CNN_FINAL_GAIN to be trained.
CNN_FINAL_GAIN = 0.05


def _pretrained(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.params.get("backbone", "scratch") != "scratch"


def choose_winner(
    trials: list[optuna.trial.FrozenTrial],
    validation_images: int | None = None,
    training_images: int | None = None,
) -> Selection:
    """The best candidate at the highest rung that at least two candidates reached.

    Scores are compared only at equal fidelity. The highest rung alone would crown whichever
    candidate got there first (successive halving promotes the first arrivals unopposed), so
    the comparison is made where there was competition: a candidate there that went further
    is judged by its score at that rung like the others.

    Given the validation split's size, two further rules (each said in the log):

    - Candidates within one standard error of the best at that rung are a tie on that score
      alone: among them the one with the best mean of that rung's score and the rung's before
      wins, twice the evidence of one validation pass (on the 20-configuration fidelity
      benchmark the mean of the last two rungs ranked the good configurations as full-data
      training does better than the last rung alone: Spearman 0.83 against 0.80).
    - A sampled candidate must beat the first known-good configuration there (the
      portfolio's, or a warm start's: enqueued before the sampler's) by more than the split can
      tell apart: one standard error of the difference of two accuracies for a single
      challenger (on 400 validation images about 3 points), more for several, as the best of
      several noisy scores is lucky (``lead_needed``). A closer lead is noise, and the
      known-good configuration is the safer one to train for the rest of the budget. If it went
      further than that rung, it is held to its last score: on a slow host the small-data
      default (a slow starter) reached 0.83 at its third rung alone, and lost to the strong
      default's 0.74 at the first, where it had 0.63.
    """
    screened = [
        t
        for t in trials
        if t.user_attrs.get(PHASE_ATTR) != "final"
        and t.state in (OptunaState.COMPLETE, OptunaState.PRUNED)
        and t.intermediate_values
        and all(name in t.user_attrs for name in COST_ATTRS)
    ]
    if not screened:
        return Selection(None)
    reached = sorted((max(t.intermediate_values) for t in screened), reverse=True)
    step = reached[1] if len(reached) > 1 else reached[0]
    contenders = [t for t in screened if step in t.intermediate_values]

    def score(t: optuna.trial.FrozenTrial) -> float:
        return t.intermediate_values[step]

    best = max(contenders, key=lambda t: (score(t), -t.number))
    if not validation_images:
        return Selection(best)
    notes = []
    tied = [
        t
        for t in contenders
        if score(best) - score(t) <= standard_error(score(best), score(t), validation_images)
    ]
    if len(tied) > 1:
        earlier = [s for s in sorted({s for t in tied for s in t.intermediate_values}) if s < step]
        before = earlier[-1] if earlier else None

        def evidence(t: optuna.trial.FrozenTrial) -> float:
            scores = [score(t)]
            if before is not None and before in t.intermediate_values:
                scores.append(t.intermediate_values[before])
            return sum(scores) / len(scores)

        chosen = max(tied, key=lambda t: (evidence(t), score(t), -t.number))
        if before is not None:
            listed = ", ".join(f"trial {t.number} {score(t):.4f}" for t in tied)
            notes.append(
                f"{listed} at step {step} are within one standard error of each other on "
                f"{validation_images} validation images; trial {chosen.number} has the best "
                f"mean with step {before} ({evidence(chosen):.4f})"
            )
            best = chosen
    cnns = [t for t in contenders if not _pretrained(t)]
    if training_images and training_images >= SMALL_DATA_IMAGES and _pretrained(best) and cnns:
        cnn = max(cnns, key=lambda t: (score(t), -t.number))
        if score(best) - score(cnn) <= CNN_FINAL_GAIN:
            notes.append(
                f"trial {best.number} (a head on {best.params['backbone']}) screened "
                f"{score(best) - score(cnn):.4f} above the best CNN, trial {cnn.number}: on "
                f"{training_images:,} training images a CNN's final run gains more than "
                f"{CNN_FINAL_GAIN:.2f} over its screening, a head's not; trial {cnn.number} "
                "is trained"
            )
            best = cnn
    first = first_known_good([t for t in contenders if _pretrained(t) == _pretrained(best)])
    if first is None or best is first:
        return Selection(best, "; ".join(notes))
    high = score(best)
    low = max(score(first), first.intermediate_values[max(first.intermediate_values)])
    needed = lead_needed(high, low, validation_images, challengers=len(contenders) - 1)
    if high - low > needed:
        return Selection(best, "; ".join(notes))
    notes.append(
        f"trial {best.number} screened higher than the first known-good trial {first.number} "
        f"by {high - low:.4f}, less than the {needed:.4f} that {validation_images} validation "
        f"images can tell apart among {len(contenders) - 1} challengers: trial {first.number} "
        "is kept"
    )
    return Selection(first, "; ".join(notes))


def screening_winner(
    trials: list[optuna.trial.FrozenTrial], validation_images: int | None = None
) -> optuna.trial.FrozenTrial | None:
    """``choose_winner``'s candidate alone."""
    return choose_winner(trials, validation_images).winner


def first_known_good(
    trials: list[optuna.trial.FrozenTrial],
) -> optuna.trial.FrozenTrial | None:
    """The earliest enqueued trial (the portfolio's, or a warm start's), if any."""
    known = [t for t in trials if "fixed_params" in t.system_attrs]
    return min(known, key=lambda t: t.number) if known else None


#: How often a lone challenger no better than the known-good one displaces it by chance: a
#: lead of more than one standard error.
CHANCE_WIN = 1 - NormalDist().cdf(1.0)


def lead_needed(p: float, q: float, images: int, challengers: int) -> float:
    """The lead over the known-good score ``q`` that ``challengers`` candidates no better than
    it would all miss as often as one misses one standard error (Sidak's correction): one
    standard error for one challenger, 1.6 for three, 2.1 for ten. The best of several is
    chosen by its score, so its lead is partly luck (and on small data a fast starter's lead
    after 4 epochs may not last the final's 30-50)."""
    z = NormalDist().inv_cdf((1 - CHANCE_WIN) ** (1 / max(1, challengers)))
    return z * standard_error(p, q, images)


def standard_error(p: float, q: float, images: int) -> float:
    """Of the difference of two accuracies ``p`` and ``q`` measured on ``images`` images."""
    return math.sqrt((p * (1 - p) + q * (1 - q)) / images)


def quick_final_epochs(epochs: int, winner: optuna.trial.FrozenTrial) -> int:
    """A quick search's final run: ``--epochs``, but never fewer epochs than its winner
    trained through its screening rungs."""
    return max(epochs, epochs_through(max(winner.intermediate_values, default=0)))


__all__ = [
    "CNN_FINAL_GAIN",
    "Selection",
    "choose_winner",
    "first_known_good",
    "lead_needed",
    "quick_final_epochs",
    "screening_winner",
    "standard_error",
]
