"""One trial: suggest, build, fit through callbacks, keep the best weights, map outcomes to states.

A trial runs in one of three phases. ``search`` (no time budget): all the data, up to
``--epochs``, the pruner asked every epoch. ``screening`` (a timed search): rungs of growing data
fractions, the pruner asked after each rung, stopped before a rung the budget cannot finish.
``final``: the screening's winner on all the data, as many epochs as the time left allows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras
import optuna

from automl._errors import Terminated, TrialFailure
from automl.data import (
    DataSplits,
    balanced_class_weights,
    evaluation_dataset,
    nested_subsets,
    training_dataset,
)
from automl.search._artifacts import ArtifactKeeper
from automl.search._budget import (
    EPOCH_CAP_ATTR,
    FINAL_DEADLINE_ATTR,
    PHASE_ATTR,
    PREDICTION_MARGIN,
    SECONDS_PER_IMAGE_ATTR,
    SIZE_ATTRS,
    BudgetPlan,
    Cost,
    NetSize,
    predicted_seconds_per_image,
    screening_rungs,
)
from automl.search._callbacks import (
    AsyncTerminateOnNaN,
    BudgetCosine,
    CostMeter,
    FitAbandoned,
    TrialReporter,
)
from automl.search._config import SearchConfig
from automl.search._model_builder import (
    activation_values,
    build_head,
    build_model,
    compile_for_saving,
    compile_model,
    multiply_adds,
)
from automl.search._optuna import retry_dead_trial
from automl.search._params import ModelParams
from automl.search._pretrained import (
    FINE_TUNE_BATCH,
    FINE_TUNE_BLOCKS,
    FINE_TUNE_LR_SCALE,
    Pretrained,
)
from automl.search._search_space import suggest_params
from storage import TrialState, TrialStore, lost_connection_reason

TIME_LIMIT_REASON = "stopped at the search's time limit"

#: Optuna states of the trials whose measured pace calibrates the next candidates' predictions.
MEASURED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

#: A final run without a cap ends at its deadline: this only bounds ``fit``'s epoch loop.
MAX_FINAL_EPOCHS = 100_000
#: A head on pretrained features trains this many epochs for each epoch a CNN would: an epoch
#: over a few thousand feature vectors takes milliseconds, and a head needs hundreds of steps.
HEAD_EPOCH_FACTOR = 10
#: A head's final run: all the data for this many epochs at most (it converges long before
#: a final phase's deadline; every epoch would be a row in the store).
HEAD_FINAL_EPOCHS = 100


@dataclass(frozen=True)
class Inputs:
    """What a candidate trains on: the images, or a backbone's features of them."""

    x_train: object
    x_val: object
    scale: float
    flip: bool
    augment: bool

    @classmethod
    def images(cls, data: DataSplits, augment: bool) -> Inputs:
        return cls(data.x_train, data.x_val, data.pixel_scale, data.horizontal_flip, augment)


@dataclass(frozen=True)
class FitOutcome:
    best_value: float
    best_epoch: int
    epochs_run: int
    reason: str | None = None
    #: The model to keep when it is not the one that was built (a fine-tuned whole model).
    model: keras.Model | None = None
    #: The backbone's blocks that were fine-tuned (0: frozen).
    fine_tuned_blocks: int = 0


class Objective:
    """What ``study.optimize`` calls: every exit path leaves the store row in a final state."""

    def __init__(
        self,
        config: SearchConfig,
        data: DataSplits,
        store: TrialStore,
        keeper: ArtifactKeeper,
        deadline: float | None = None,
        plan: BudgetPlan | None = None,
        *,
        screening_over: bool = False,
        host_busy: Callable[[], bool] = lambda: False,
        log: Callable[[str], None] = print,
    ) -> None:
        """``host_busy``: whether another process of this search is busy on this host now
        (the next worker getting ready): screening's cost meter does not decide on the steps
        timed then."""
        self.config = config
        self.screening_over = screening_over
        self.host_busy = host_busy
        self.data = data
        self.store = store
        self.keeper = keeper
        self.deadline = plan.deadline if plan else deadline
        self.plan = plan
        self.class_weight = (
            balanced_class_weights(data.y_train, data.num_classes)
            if config.class_weight == "balanced"
            else None
        )
        self.rungs = screening_rungs(len(data.x_train))
        self.subsets = (
            nested_subsets(data.y_train, [r.fraction for r in self.rungs], config.seed)
            if plan
            else []
        )
        self.pretrained = Pretrained(config, data, self.plan, log)

    def phase_of(self, trial: optuna.Trial) -> str:
        if self.plan is None:
            return "search"
        return "final" if trial.user_attrs.get(PHASE_ATTR) == "final" else "screening"

    def __call__(self, trial: optuna.Trial) -> float:
        phase = self.phase_of(trial)
        record = self.store.start_trial(self.config.name, trial.number, phase=phase)
        reporter: TrialReporter | None = None
        model: keras.Model | None = None
        try:
            too_late = self._too_late(trial, phase)
            if too_late:
                raise optuna.TrialPruned(too_late)
            params = suggest_params(
                trial,
                self.data.input_shape,
                self.config.backbones,
                lambda name: self.pretrained.resolution(name, trial.study, final=phase == "final"),
            )
            keras.utils.set_random_seed(self.config.seed + trial.number)
            model, inputs, trained_count, param_count = self._build(params)
            self.store.set_trial_params(record.id, params.to_dict(), param_count)
            trial.set_user_attr("param_count", param_count)
            if trained_count > self.config.max_params:
                raise optuna.TrialPruned(
                    f"{trained_count:,} parameters exceed the cap of {self.config.max_params:,}"
                )
            compile_model(model, params)
            # In screening the cost meter keeps the deadline: it ends a rung at once.
            deadline = None if phase == "screening" else self.deadline
            reporter = TrialReporter(
                trial, self.store, record.id, deadline, keep_last=phase == "final"
            )
            fit = {"search": self._search, "screening": self._screen, "final": self._final}
            outcome = fit[phase](model, params, inputs, reporter, trial)
            trial.set_user_attr("best_epoch", outcome.best_epoch)
            trial.set_user_attr("epochs_run", outcome.epochs_run)
            reason = outcome.reason
            if reporter.deadline_hit and reason != TIME_LIMIT_REASON:  # and why, if it says
                reason = f"{TIME_LIMIT_REASON}; {reason}" if reason else TIME_LIMIT_REASON
            self.store.finish_trial(
                record.id,
                TrialState.COMPLETE,
                value=outcome.best_value,
                best_epoch=outcome.best_epoch,
                reason=reason,
            )
            if outcome.fine_tuned_blocks:
                tuned = {**params.to_dict(), "fine_tuned_blocks": outcome.fine_tuned_blocks}
                self.store.set_trial_params(record.id, tuned, param_count)
            if outcome.model is not None:
                model = outcome.model
            elif params.pretrained:
                model = self.pretrained.whole_model(params, model)
            elif params.label_smoothing:
                compile_for_saving(model)
            self.keeper.offer(trial.number, model)
            return outcome.best_value
        except optuna.TrialPruned as exc:
            self._close(record.id, TrialState.PRUNED, reporter, str(exc) or "pruned")
            raise
        except TrialFailure as exc:
            self._close(record.id, TrialState.FAIL, reporter, str(exc))
            raise
        except KeyboardInterrupt as exc:
            why = (
                "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted by the user"
            )
            self._close(record.id, TrialState.FAIL, reporter, why)
            raise
        except Exception as exc:  # e.g. out of memory in one candidate: fail it, keep searching
            lost = lost_connection_reason(exc)  # the database went away mid-trial (a restart)
            reason = (
                f"database connection lost ({lost})"
                if lost
                else f"{type(exc).__name__}: {_first_line(exc)}"
            )
            self._close(record.id, TrialState.FAIL, reporter, reason)  # retries till it is back
            if lost:
                frozen = next(
                    t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number
                )
                retry_dead_trial(trial.study, frozen)
            raise TrialFailure(reason) from exc
        finally:
            del model
            keras.backend.clear_session()  # and a full garbage collection: memory stays flat

    def _build(self, params: ModelParams) -> tuple[keras.Model, Inputs, int, int]:
        """The model that trains, what it trains on, the parameters it trains and the
        whole model's: a CNN on the images, or a head on a frozen backbone's features (the
        head is what trains; the backbone counts towards the model's size)."""
        data = self.data
        if not params.pretrained:
            model = build_model(params, data.input_shape, data.num_classes)
            count = model.count_params()
            return model, Inputs.images(data, params.augment), count, count
        features = self.pretrained.features(params)
        model = build_head(params, features.x_train.shape[1], data.num_classes)
        inputs = Inputs(features.x_train, features.x_val, 1.0, False, False)
        count = model.count_params()
        return model, inputs, count, count + self.pretrained.parameter_count(params.backbone)

    def _too_late(self, trial: optuna.Trial, phase: str) -> str | None:
        """Why a trial taken from the queue after its phase ended is closed untrained, if it
        is: a screening candidate once screening is over, or a final whose run ended before it
        started (trained, it would take this run's whole budget in place of its screening)."""
        now = time.time()
        if phase == "screening" and (
            self.screening_over or now >= self.plan.screening_deadline  # type: ignore[union-attr]
        ):
            return "not screened: the screening phase was over"
        if phase == "final" and now >= trial.user_attrs.get(FINAL_DEADLINE_ATTR, math.inf):
            return "not trained: the run that queued this final ended before it started"
        return None

    # ---------------------------------------------------------------- the three phases
    def _search(
        self,
        model: keras.Model,
        params: ModelParams,
        inputs: Inputs,
        reporter: TrialReporter,
        trial: optuna.Trial,
    ) -> FitOutcome:
        """No budget: all the data, up to --epochs, early stopping, the pruner every epoch."""
        config = self.config
        epochs = config.epochs * (HEAD_EPOCH_FACTOR if params.pretrained else 1)
        reporter.use(1.0, len(self.data.x_train), lambda step: step)
        schedule = BudgetCosine(params.learning_rate, epochs, self.deadline)
        self._fit(
            model,
            params,
            inputs,
            trial.number,
            reporter,
            epochs=epochs,
            callbacks=[
                schedule,
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
            ],
        )
        return self._outcome(reporter, TIME_LIMIT_REASON if schedule.out_of_time else None)

    def _screen(
        self,
        model: keras.Model,
        params: ModelParams,
        inputs: Inputs,
        reporter: TrialReporter,
        trial: optuna.Trial,
    ) -> FitOutcome:
        """Rungs of growing data fractions; each one is started only if it can finish in time."""
        plan, train_size = self.plan, len(self.data.x_train)
        assert plan is not None
        # A candidate too slow to train properly in the final phase is no use as a winner.
        limit = plan.max_seconds_per_image(train_size)
        factor = HEAD_EPOCH_FACTOR if params.pretrained else 1
        if not params.pretrained:  # a head's pace says nothing of a CNN's: CNNs only
            self._prune_if_predicted_too_slow(model, trial, limit, train_size)
        meter = CostMeter(
            params.batch_size,
            until=plan.screening_deadline,
            max_seconds_per_image=limit,
            host_busy=self.host_busy,
        )
        total_epochs = sum(r.epochs for r in self.rungs) * factor
        schedule = BudgetCosine(params.learning_rate, total_epochs)
        epoch, reason = 0, None
        for rung, indices in zip(self.rungs, self.subsets):
            cost = meter.cost
            if cost is not None and not plan.rung_fits(cost, rung, train_size, time.time()):
                reason = f"screening time left no room for rung {rung.level + 1}"
                break
            last = epoch + rung.epochs * factor
            reporter.use(
                rung.fraction,
                len(indices),
                lambda step, r=rung, end=last: r.step if step == end else None,
            )
            try:
                self._fit(
                    model,
                    params,
                    inputs,
                    trial.number,
                    reporter,
                    epochs=last,
                    initial_epoch=epoch,
                    indices=indices,
                    callbacks=[schedule, meter],
                    # Only the rung's last score is reported: validating its first of two
                    # epochs cost 6,000 images' pass per candidate.
                    validate_at=[last],
                )
            except FitAbandoned:
                pass
            finally:
                self._record_cost(trial, meter.cost)
            if meter.too_slow:  # decided on the median step, as the limit is (no validation)
                per_epoch = meter.median_seconds_per_image * train_size  # type: ignore[operator]
                raise optuna.TrialPruned(
                    f"too slow for the final phase: {per_epoch:.1f} s per full-data epoch, "
                    f"{plan.min_final_epochs} would not fit in {plan.final_seconds:.0f} s"
                )
            self._raise_for(reporter)
            if meter.cannot_finish:
                if epoch == 0:  # no rung finished: a first rung's epoch alone is no score
                    raise optuna.TrialPruned("screening time ran out during rung 1")
                reporter.restore_best()  # the partial rung's weights are not what was scored
                reason = f"screening time ran out during rung {rung.level + 1}"
                break
            trial.set_user_attr("rung", rung.level)
            epoch = last
        return self._outcome(reporter, reason)

    def _final(
        self,
        model: keras.Model,
        params: ModelParams,
        inputs: Inputs,
        reporter: TrialReporter,
        trial: optuna.Trial,
    ) -> FitOutcome:
        """All the data until the deadline (or the epoch cap of a quick search), the learning
        rate reaching its floor on the last epoch that fits. The epochs' own pace decides how
        many fit, not the screening's cost: the winner may train faster now than it did on a
        busy host or beside another worker, or slower."""
        train_size = len(self.data.x_train)
        assert self.deadline is not None
        epochs = trial.user_attrs.get(EPOCH_CAP_ATTR) or MAX_FINAL_EPOCHS
        if params.pretrained:
            epochs = min(epochs * HEAD_EPOCH_FACTOR, HEAD_FINAL_EPOCHS)
        reporter.use(1.0, train_size, lambda step: None)  # never pruned
        self._fit(
            model,
            params,
            inputs,
            trial.number,
            reporter,
            epochs=epochs,
            callbacks=[BudgetCosine(params.learning_rate, epochs, self.deadline)],
        )
        if not params.pretrained or EPOCH_CAP_ATTR in trial.user_attrs:  # a quick search
            return self._outcome(reporter)
        return self._fine_tune(model, params, reporter)

    def _fine_tune(
        self, head: keras.Model, params: ModelParams, reporter: TrialReporter
    ) -> FitOutcome:
        """After a pretrained head's final run, the time left fine-tunes the backbone's last
        blocks with the head on the images, augmented. The last epoch is kept as in any
        final run, unless it scores below the frozen model on validation: then the frozen
        one is kept, and the trial says why."""
        frozen = self._outcome(reporter)
        if reporter.deadline_hit or time.time() >= self.deadline:  # type: ignore[operator]
            return frozen
        model = self.pretrained.fine_tunable(params, head)
        frozen_weights = model.get_weights()
        tuned = replace(params, batch_size=FINE_TUNE_BATCH)
        images = Inputs.images(self.data, augment=True)
        reporter.epoch_offset = reporter.epochs_run
        rate = params.learning_rate * FINE_TUNE_LR_SCALE
        self._fit(
            model,
            tuned,
            images,
            reporter.trial.number,
            reporter,
            epochs=MAX_FINAL_EPOCHS,
            callbacks=[BudgetCosine(rate, MAX_FINAL_EPOCHS, self.deadline)],
        )
        outcome = self._outcome(reporter)
        if outcome.best_value < frozen.best_value:
            model.set_weights(frozen_weights)
            why = (
                f"fine-tuning scored {outcome.best_value:.4f} on validation, the frozen "
                f"backbone {frozen.best_value:.4f}: the frozen one is kept"
            )
            return replace(frozen, epochs_run=outcome.epochs_run, reason=why, model=model)
        return replace(outcome, model=model, fine_tuned_blocks=FINE_TUNE_BLOCKS)

    # ---------------------------------------------------------------- shared pieces
    def _fit(
        self,
        model: keras.Model,
        params: ModelParams,
        inputs: Inputs,
        number: int,
        reporter: TrialReporter,
        *,
        epochs: int,
        callbacks: list[keras.callbacks.Callback],
        initial_epoch: int = 0,
        indices=None,
        validate_at: list[int] | None = None,
    ) -> None:
        """``validate_at``: the epochs (counted from 1) after which to validate; all when None."""
        data = self.data
        model.fit(
            training_dataset(
                inputs.x_train,
                data.y_train,
                params.batch_size,
                augment=inputs.augment,
                seed=self.config.seed + number,
                flip=inputs.flip,
                scale=inputs.scale,
                indices=indices,
            ),
            validation_data=evaluation_dataset(inputs.x_val, data.y_val, scale=inputs.scale),
            initial_epoch=initial_epoch,
            epochs=epochs,
            validation_freq=validate_at or 1,
            shuffle=False,  # the dataset reshuffles itself each epoch
            class_weight=self.class_weight,
            verbose=2 if self.config.verbose else 0,
            callbacks=[AsyncTerminateOnNaN(), *callbacks, reporter],
        )

    def _prune_if_predicted_too_slow(
        self, model: keras.Model, trial: optuna.Trial, limit: float, train_size: int
    ) -> None:
        """Record the CNN's size; prune it before it trains if the pace measured on this
        host's earlier candidates predicts it far over ``limit`` seconds per image."""
        plan = self.plan
        assert plan is not None
        size = NetSize(multiply_adds(model), activation_values(model))
        for name, value in asdict(size).items():  # SIZE_ATTRS
            trial.set_user_attr(name, value)
        predicted = predicted_seconds_per_image(size, _measured_paces(trial.study))
        if predicted is not None and predicted > PREDICTION_MARGIN * limit:
            raise optuna.TrialPruned(
                f"too slow for the final phase: about {predicted * train_size:.0f} s per "
                f"full-data epoch predicted for {size.multiply_adds / 1e6:.1f}M multiply-adds "
                f"and {size.activation_values / 1e3:.0f}k activations per image from the "
                f"candidates measured on this host, {plan.min_final_epochs} would not fit in "
                f"{plan.final_seconds:.0f} s"
            )

    def _raise_for(self, reporter: TrialReporter) -> None:
        if reporter.nan_at is not None:
            raise TrialFailure(f"loss became NaN or infinite at epoch {reporter.nan_at}")
        if reporter.pruned_at is not None:
            raise optuna.TrialPruned(
                f"pruned by the {self.config.pruner_name} pruner after epoch {reporter.pruned_at}"
            )

    def _outcome(self, reporter: TrialReporter, reason: str | None = None) -> FitOutcome:
        self._raise_for(reporter)
        if reporter.best_epoch is None:
            raise TrialFailure("no epoch finished")
        return FitOutcome(reporter.best_value, reporter.best_epoch, reporter.epochs_run, reason)

    @staticmethod
    def _record_cost(trial: optuna.Trial, cost: Cost | None) -> None:
        """The final phase plans its epochs from the cost its configuration measured here."""
        if cost is not None:
            trial.set_user_attr(SECONDS_PER_IMAGE_ATTR, cost.seconds_per_image)
            trial.set_user_attr("validation_seconds", cost.validation_seconds)

    def _close(
        self, trial_id: int, state: TrialState, reporter: TrialReporter | None, reason: str
    ) -> None:
        best = reporter.best_value if reporter and reporter.best_epoch else None
        self.store.finish_trial(
            trial_id,
            state,
            value=best,
            best_epoch=reporter.best_epoch if reporter else None,
            pruned_at_epoch=reporter.pruned_at if reporter else None,
            reason=reason,
        )


def _measured_paces(study: optuna.Study) -> list[tuple[NetSize, float]]:
    """(size, seconds per image) of the study's candidates measured so far."""
    return [
        (
            NetSize(**{name: t.user_attrs[name] for name in SIZE_ATTRS}),
            t.user_attrs[SECONDS_PER_IMAGE_ATTR],
        )
        for t in study.get_trials(deepcopy=False, states=MEASURED_STATES)
        if all(name in t.user_attrs for name in (*SIZE_ATTRS, SECONDS_PER_IMAGE_ATTR))
    ]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"
