"""One trial: suggest, build, fit through callbacks, keep the best weights, map outcomes to states."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import keras
import optuna

from automl._errors import TrialFailure
from automl.data import DataSplits, evaluation_dataset, training_dataset
from automl.search._artifacts import ArtifactKeeper
from automl.search._callbacks import AsyncTerminateOnNaN, BudgetCosine, TrialReporter
from automl.search._config import SearchConfig
from automl.search._model_builder import build_model, compile_model
from automl.search._params import ModelParams
from automl.search._search_space import suggest_params
from storage import TrialState, TrialStore


@dataclass(frozen=True)
class FitOutcome:
    best_value: float
    best_epoch: int
    epochs_run: int


class Objective:
    """What ``study.optimize`` calls: every exit path leaves the store row in a final state."""

    def __init__(
        self,
        config: SearchConfig,
        data: DataSplits,
        store: TrialStore,
        keeper: ArtifactKeeper,
        deadline: float | None,
    ) -> None:
        self.config = config
        self.data = data
        self.store = store
        self.keeper = keeper
        self.deadline = deadline

    def __call__(self, trial: optuna.Trial) -> float:
        record = self.store.start_trial(self.config.name, trial.number)
        reporter: TrialReporter | None = None
        model: keras.Model | None = None
        try:
            params = suggest_params(trial, self.data.input_shape)
            keras.utils.set_random_seed(self.config.seed + trial.number)
            model = build_model(params, self.data.input_shape, self.data.num_classes)
            param_count = model.count_params()
            self.store.set_trial_params(record.id, params.to_dict(), param_count)
            trial.set_user_attr("param_count", param_count)
            if param_count > self.config.max_params:
                raise optuna.TrialPruned(
                    f"{param_count:,} parameters exceed the cap of {self.config.max_params:,}"
                )
            reporter = TrialReporter(trial, self.store, record.id, self.deadline)
            outcome = self._fit(model, params, reporter, trial.number)
            trial.set_user_attr("best_epoch", outcome.best_epoch)
            trial.set_user_attr("epochs_run", outcome.epochs_run)
            self.store.finish_trial(
                record.id,
                TrialState.COMPLETE,
                value=outcome.best_value,
                best_epoch=outcome.best_epoch,
                reason="stopped at the search's time limit" if reporter.deadline_hit else None,
            )
            self.keeper.offer(trial.number, model)
            return outcome.best_value
        except optuna.TrialPruned as exc:
            self._close(record.id, TrialState.PRUNED, reporter, str(exc) or "pruned")
            raise
        except TrialFailure as exc:
            self._close(record.id, TrialState.FAIL, reporter, str(exc))
            raise
        except KeyboardInterrupt:
            self._close(record.id, TrialState.FAIL, reporter, "interrupted by the user")
            raise
        except Exception as exc:  # e.g. out of memory in one candidate: fail it, keep searching
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            self._close(record.id, TrialState.FAIL, reporter, reason)
            raise TrialFailure(reason) from exc
        finally:
            del model
            keras.backend.clear_session()  # memory stays flat over a long study
            gc.collect()

    def _fit(
        self, model: keras.Model, params: ModelParams, reporter: TrialReporter, number: int
    ) -> FitOutcome:
        data, config = self.data, self.config
        compile_model(model, params)
        seed = config.seed + number
        model.fit(
            training_dataset(
                data.x_train, data.y_train, params.batch_size, augment=params.augment, seed=seed
            ),
            validation_data=evaluation_dataset(data.x_val, data.y_val),
            epochs=config.epochs,
            shuffle=False,  # the dataset reshuffles itself each epoch
            verbose=2 if config.verbose else 0,
            callbacks=[
                AsyncTerminateOnNaN(),
                keras.callbacks.LearningRateScheduler(
                    BudgetCosine(params.learning_rate, config.epochs, self.deadline)
                ),
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
                reporter,
            ],
        )
        if reporter.nan_at is not None:
            raise TrialFailure(f"loss became NaN or infinite at epoch {reporter.nan_at}")
        if reporter.pruned_at is not None:
            raise optuna.TrialPruned(
                f"pruned by the {config.pruner} pruner after epoch {reporter.pruned_at}"
            )
        if reporter.best_epoch is None:
            raise TrialFailure("no epoch finished")
        return FitOutcome(reporter.best_value, reporter.best_epoch, reporter.epochs_run)

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"
