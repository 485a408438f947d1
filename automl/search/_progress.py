"""What a user sees while a search runs. On a terminal: a bar redrawn in place (the budget's
seconds, or the trial count). Elsewhere (a log file, CI, a pipe): one line each time the
phase changes, a trial finishes or the best score moves, never a line per second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from automl._quiet import progress_bar_wanted
from automl.search._budget import BudgetPlan
from automl.search._config import SearchConfig
from storage import TrialFilter, TrialState, TrialStore, fraction_text

_FINISHED = TrialFilter(states=tuple(s.value for s in TrialState if s.is_finished))
_COMPLETE = TrialFilter(states=(TrialState.COMPLETE.value,))
_RUNNING = TrialFilter(states=(TrialState.RUNNING.value,))
_SCREENED = TrialFilter(phases=("screening",), min_epochs=1)


class SearchProgress:
    """Polls the store, so it counts every worker's trials, other machines' included: a few
    small queries, never the study's trials (a resumed study may hold thousands)."""

    def __init__(
        self,
        config: SearchConfig,
        store: TrialStore,
        plan: BudgetPlan | None,
        initial: int,
        log: Callable[[str], None],
    ) -> None:
        self.config, self.store, self.plan, self.log = config, store, plan, log
        #: ``screening`` or ``final`` in a timed search; the supervisor moves it on.
        self.phase = "screening" if plan else ""
        #: --verbose prints per-epoch lines instead; a helper worker writes to a log file.
        self.enabled = progress_bar_wanted(config.verbose)
        self.terminal = sys.stderr.isatty()
        self._milestone: tuple | None = None
        self._postfix = ""
        disable = not (self.enabled and self.terminal)
        if plan is None:
            self.bar = tqdm(
                total=config.trial_limit,
                initial=initial,
                unit="trial",
                disable=disable,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]",
            )
        else:  # a timed search: the bar is the budget, its end the deadline
            self.bar = tqdm(
                total=round(plan.seconds),
                unit="s",
                disable=disable,
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} s{postfix}",
            )

    def update(self) -> None:
        if not self.enabled:
            return
        best = next(iter(self.store.top_trials(self.config.name, _COMPLETE, limit=1)), None)
        best_text = (
            f"best val acc {best.value:.4f} (trial {best.number})"
            if best is not None and best.value is not None
            else ""
        )
        finished = self._count(_FINISHED)
        if self.plan is None:
            position = min(finished, self.config.trial_limit or finished)
            postfix, desc = best_text, ""
        else:
            now = time.time()
            position = min(round(self.plan.seconds), max(0, round(now - self.plan.start)))
            desc = self.phase
            postfix = "; ".join(
                part
                for part in (
                    f"{max(0.0, self.plan.deadline - now):.0f} s left",
                    f"{self._count(_SCREENED)} screened",
                    self._running_text(),
                    best_text,
                )
                if part
            )
        if not self.terminal:
            milestone = (desc, finished, best_text)
            if milestone != self._milestone:
                self._milestone = milestone
                counted = f"{finished} trials finished" if self.plan is None else ""
                self.log("progress: " + "; ".join(p for p in (desc, counted, postfix) if p))
            return
        changed = (position, postfix, desc) != (self.bar.n, self._postfix, self.bar.desc)
        self.bar.n, self._postfix = position, postfix
        if changed:
            self.bar.set_description_str(desc, refresh=False)
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.update()
        self.bar.close()

    def _count(self, where: TrialFilter) -> int:
        return self.store.trial_page(self.config.name, where, limit=1).total

    def _running_text(self) -> str:
        """The latest running trial: its epoch and data fraction, and its validation accuracy
        so far (a final run trains for minutes, its score changes under the best's)."""
        running = self.store.top_trials(self.config.name, _RUNNING, sort="number", limit=1)
        if not running:
            return ""
        t = running[0]
        if not t.epochs_run:
            return f"trial {t.number} starting"
        fraction = f" on {fraction_text(t.data_fraction)} of the data" if t.data_fraction else ""
        epochs = self.store.epochs(self.config.name, [t.number])
        score = epochs[-1].val_accuracy if epochs else None
        so_far = f", val acc {score:.4f}" if score is not None else ""
        return f"trial {t.number} epoch {t.epochs_run}{fraction}{so_far}"


__all__ = ["SearchProgress"]
