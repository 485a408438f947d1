"""TrialStore: the one repository every reader and writer of project data goes through.

Each method is one transaction; the SQL it needs beyond a lookup is in ``_queries``, the
row-to-record mapping in ``_mapping``, connections and retries in ``_session``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import aliased

from storage._data_quality import DataQualityStore
from storage._errors import StorageError
from storage._mapping import (
    as_utc,
    epoch_record,
    evaluation_record,
    finite,
    study_record,
    trial_record,
)
from storage._migrations import schema_lock, upgrade_to_head
from storage._models import (
    ArtifactRow,
    ChampionRow,
    EpochRow,
    EvaluationRow,
    ExportRow,
    ParamRangeRow,
    ParamValueRow,
    PromotionRow,
    StudyRow,
    TrialRow,
    utcnow,
)
from storage._prediction_log import PredictionLogStore
from storage._queries import (
    label_order,
    param_label,
    param_text,
    param_type,
    rebuild_param_values,
    record_param_values,
    sorted_trials,
    study_row,
    study_summaries,
    trial_conditions,
    trial_points,
    trial_row,
)
from storage._records import (
    ArtifactRecord,
    EpochRecord,
    EvaluationRecord,
    ExportRecord,
    PromotionRecord,
    StudyRecord,
    StudyStamp,
    StudySummary,
    TrialFilter,
    TrialPage,
    TrialPoints,
    TrialRecord,
    TrialState,
)
from storage._session import (
    DEFAULT_STORAGE_URL,
    cannot_open,
    check_sqlite_path,
    looking_into,
    make_engine,
    make_session_factory,
    parse_url,
    retrying,
    session_scope,
)


@retrying
class TrialStore(DataQualityStore, PredictionLogStore):
    """Project data (studies, trials, epochs, artifacts, evaluations, champions, data reports,
    the prediction log) in one database.

    ``create=False`` opens an existing store only: a missing SQLite file is an error rather than
    silently creating an empty database (what a read-only dashboard wants).
    """

    def __init__(self, url: str = DEFAULT_STORAGE_URL, *, create: bool = True) -> None:
        self.url = url
        #: A server database: operations are retried after a lost connection.
        self.retries = parse_url(url).get_backend_name() != "sqlite"
        check_sqlite_path(url, create)
        self._engine: Engine = make_engine(url)
        self._sessions = make_session_factory(self._engine)
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            upgrade_to_head(self._engine)
        except DBAPIError as exc:  # unreachable server, or a file that is not a database
            self._engine.dispose()
            raise cannot_open(url, exc) from None

    @staticmethod
    def check(url: str) -> None:
        """Raise StorageError now if ``url`` cannot hold the store, creating and changing
        nothing: a search looks before it reads its data, which may take minutes, and
        creates the store only once the data is found good."""
        sqlite = parse_url(url).get_backend_name() == "sqlite"
        with looking_into(url) as conn:
            if conn is not None:  # SQLite reads the file's header at the first table
                conn.execute(text("SELECT count(*) FROM sqlite_master" if sqlite else "SELECT 1"))

    @staticmethod
    def holds_study(url: str, name: str) -> bool:
        """Whether the store at ``url`` holds study ``name``, creating and changing nothing."""
        with looking_into(url) as conn:
            if conn is None or not sqlalchemy_inspect(conn).has_table(StudyRow.__tablename__):
                return False
            return conn.scalar(select(StudyRow.id).where(StudyRow.name == name)) is not None

    @property
    def engine(self) -> Engine:
        return self._engine

    def schema_lock(self):
        """A context in which another library may create its tables in this database without
        racing other processes doing the same."""
        return schema_lock(self._engine)

    def queue_lock(self):
        """A context in which one process at a time takes a queued trial: SQLite has no row
        locks, so two workers could both see a trial waiting and both run it (the schema
        lock's file or advisory lock; held for one read and one write)."""
        return schema_lock(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def _scope(self):
        return session_scope(self._sessions)

    # ------------------------------------------------------------------ studies
    def ensure_study(
        self, name: str, task: str, search_space_version: int, config: dict[str, Any]
    ) -> StudyRecord:
        """Create the study, or return it when it already exists for the same task."""
        with self._scope() as session:
            row = session.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                row = StudyRow(
                    name=name, task=task, search_space_version=search_space_version, config=config
                )
                session.add(row)
                try:
                    session.flush()
                except IntegrityError:  # another worker created it first
                    session.rollback()
                    row = session.scalars(select(StudyRow).where(StudyRow.name == name)).one()
            if row.task != task:
                raise StorageError(
                    f"study {name!r} already exists for task {row.task!r}, not {task!r}; "
                    "choose another --study name"
                )
            return study_record(row)

    def get_study(self, name: str) -> StudyRecord:
        with self._scope() as session:
            return study_record(study_row(session, name))

    def study_names(self) -> list[str]:
        with self._scope() as session:
            return list(session.scalars(select(StudyRow.name).order_by(StudyRow.id)))

    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial counts, best value, champion and last activity."""
        with self._scope() as session:
            return study_summaries(session)

    # ------------------------------------------------------------------- trials
    def start_trial(self, study_name: str, number: int, phase: str = "search") -> TrialRecord:
        with self._scope() as session:
            study = study_row(session, study_name)
            row = session.scalar(
                select(TrialRow).where(TrialRow.study_id == study.id, TrialRow.number == number)
            )
            if row is None:
                row = TrialRow(study_id=study.id, number=number, state=TrialState.RUNNING.value)
                session.add(row)
            else:  # a re-used number (should not happen with Optuna) restarts cleanly
                row.state = TrialState.RUNNING.value
                row.started_at = utcnow()
            row.phase = phase
            session.flush()
            return trial_record(row, study_name)

    def set_trial_params(self, trial_id: int, params: dict[str, Any], param_count: int) -> None:
        """A trial's parameters, and its study's lists of parameter values with them."""
        with self._scope() as session:
            row = session.get_one(TrialRow, trial_id)
            row.params = params
            row.param_count = param_count
            session.flush()
            record_param_values(session, row, params)

    def rebuild_param_values(self, study_name: str) -> None:
        """The study's parameter value lists and ranges made anew from its trials: for trials
        written without ``set_trial_params`` (bulk loads, the dashboard benchmark)."""
        with self._scope() as session:
            rebuild_param_values(session, study_row(session, study_name).id)

    def record_epoch(
        self,
        trial_id: int,
        epoch: int,
        *,
        seconds: float,
        loss: float | None = None,
        accuracy: float | None = None,
        val_loss: float | None = None,
        val_accuracy: float | None = None,
        learning_rate: float | None = None,
        data_fraction: float | None = None,
        images_seen: int | None = None,
    ) -> None:
        """Write one epoch as it ends, so readers see a running trial's curve grow.

        ``images_seen`` counts the trial's training images up to this epoch: curves of trials
        that trained on different fractions of the data compare on that axis.
        """
        with self._scope() as session:
            row = session.scalar(
                select(EpochRow).where(EpochRow.trial_id == trial_id, EpochRow.epoch == epoch)
            )
            if row is None:
                row = EpochRow(trial_id=trial_id, epoch=epoch, seconds=seconds)
                session.add(row)
            row.loss, row.accuracy = finite(loss), finite(accuracy)
            row.val_loss, row.val_accuracy = finite(val_loss), finite(val_accuracy)
            row.learning_rate, row.seconds = finite(learning_rate), seconds
            row.data_fraction, row.images_seen = data_fraction, images_seen
            trial = session.get_one(TrialRow, trial_id)
            trial.epochs_run = max(trial.epochs_run, epoch)
            if data_fraction is not None:
                trial.data_fraction = max(trial.data_fraction or 0.0, data_fraction)
            if images_seen is not None:
                trial.images_seen = max(trial.images_seen, images_seen)

    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        *,
        value: float | None = None,
        best_epoch: int | None = None,
        pruned_at_epoch: int | None = None,
        reason: str | None = None,
    ) -> TrialRecord:
        if state is TrialState.RUNNING:
            raise ValueError("finish_trial needs a finished state")
        with self._scope() as session:
            row = session.get_one(TrialRow, trial_id)
            row.state = state.value
            row.value = finite(value)
            row.best_epoch = best_epoch
            row.pruned_at_epoch = pruned_at_epoch
            row.reason = reason
            row.finished_at = utcnow()
            row.duration_s = (row.finished_at - as_utc(row.started_at)).total_seconds()
            return trial_record(row, row.study.name)

    def set_test_score(self, study_name: str, number: int, accuracy: float, loss: float) -> None:
        with self._scope() as session:
            row = trial_row(session, study_name, number)
            row.test_accuracy, row.test_loss = float(accuracy), float(loss)

    def trials(
        self, study_name: str, states: Iterable[TrialState] | None = None
    ) -> list[TrialRecord]:
        with self._scope() as session:
            study = study_row(session, study_name)
            query = select(TrialRow).where(TrialRow.study_id == study.id)
            if states is not None:
                query = query.where(TrialRow.state.in_([s.value for s in states]))
            rows = session.scalars(query.order_by(TrialRow.number))
            return [trial_record(r, study_name) for r in rows]

    def trial_page(
        self,
        study_name: str,
        where: TrialFilter | None = None,
        *,
        sort: str = "number",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> TrialPage:
        """One page of a study's trials, filtered and sorted in the database (ties and
        missing values last, then by trial number: a stable order for paging), with the
        number that match and the study's size (one scan for both)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            conditions = trial_conditions(study.id, where or TrialFilter())
            total, study_total = session.execute(
                select(func.count().filter(and_(*conditions)), func.count()).where(
                    TrialRow.study_id == study.id
                )
            ).one()
            rows = sorted_trials(session, study.id, conditions, sort, descending, offset, limit)
            tested = dict(
                session.execute(
                    select(TrialRow.number, EvaluationRow.accuracy)
                    .join(EvaluationRow, EvaluationRow.trial_id == TrialRow.id)
                    .where(TrialRow.id.in_([row.id for row in rows]))
                ).all()
            )
            return TrialPage(
                trials=[trial_record(row, study_name) for row in rows],
                total=total or 0,
                study_total=study_total or 0,
                offset=max(0, offset),
                evaluated=tested,
            )

    def top_trials(
        self,
        study_name: str,
        where: TrialFilter | None = None,
        *,
        sort: str = "value",
        descending: bool = True,
        limit: int = 20,
    ) -> list[TrialRecord]:
        """The first ``limit`` trials in that order, without counting the rest (pickers)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            conditions = trial_conditions(study.id, where or TrialFilter())
            rows = sorted_trials(session, study.id, conditions, sort, descending, 0, limit)
            return [trial_record(row, study_name) for row in rows]

    def trials_by_numbers(self, study_name: str, numbers: Iterable[int]) -> list[TrialRecord]:
        """Just these trials (unknown numbers are left out), by number."""
        wanted = sorted({int(n) for n in numbers})
        if not wanted:
            return []
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.scalars(
                select(TrialRow)
                .where(TrialRow.study_id == study.id, TrialRow.number.in_(wanted))
                .order_by(TrialRow.number)
            )
            return [trial_record(r, study_name) for r in rows]

    def trial_points(
        self, study_name: str, limit: int | None = None, keep_best: int = 0
    ) -> TrialPoints:
        """Number, state, value and size of the study's trials: what the analysis charts
        plot, without the parameters. Past ``limit`` trials, about ``limit`` of them: the
        best-so-far steps, the best for their size and the ``keep_best`` best completed
        (window functions and an index walk in the database), and a spread of the rest chosen
        by a fixed hash of the number, the same trials on every refresh. So a 50,000-trial
        study is never read whole, and the charts' lines are exact."""
        with self._scope() as session:
            study = study_row(session, study_name)
            return trial_points(session, study.id, limit, keep_best)

    def study_stamp(self, study_name: str) -> StudyStamp:
        """How many trials, and when one last changed: one small aggregate (a covering-index
        scan on SQLite, 14 ms at 50,000 trials on PostgreSQL)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            count, updated = session.execute(
                select(func.count(), func.max(TrialRow.updated_at)).where(
                    TrialRow.study_id == study.id
                )
            ).one()
            return StudyStamp(count, as_utc(updated))

    def param_names(self, study_name: str, sample: int = 1000) -> list[str]:
        """The parameters of the study's latest trials, in first-seen order (a search space
        is conditional: the latest trials name them all between them)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            names: dict[str, None] = {}
            for params in session.scalars(
                select(TrialRow.params)
                .where(TrialRow.study_id == study.id)
                .order_by(TrialRow.number.desc())
                .limit(sample)
            ):
                names.update(dict.fromkeys(params or {}))
            return list(names)

    def param_values(
        self, study_name: str, name: str, limit: int = 50
    ) -> list[tuple[Any, str]] | None:
        """A parameter's distinct values as (stored form, label), or None when it has more
        than ``limit`` (filter those by range). The stored form is what ``TrialFilter``
        takes back: it compares in the database exactly, whatever the dialect."""
        with self._scope() as session:
            study = study_row(session, study_name)
            kind = param_type(session, study.id, name)
            raw = list(
                session.scalars(
                    select(ParamValueRow.value)
                    .where(ParamValueRow.study_id == study.id, ParamValueRow.name == name)
                    .limit(limit + 1)
                )
            )
            if not raw:  # a real number (never listed there), or a study not indexed
                column = param_text(name)
                raw = list(
                    session.scalars(
                        select(column)
                        .where(TrialRow.study_id == study.id, column.is_not(None))
                        .distinct()
                        .limit(limit + 1)
                    )
                )
        if len(raw) > limit:
            return None
        return sorted(
            ((v, param_label(v, kind)) for v in raw), key=lambda pair: label_order(pair[1])
        )

    def param_kind(self, study_name: str, name: str) -> type | None:
        """The Python type of a parameter's values (None: no trial has it)."""
        with self._scope() as session:
            return param_type(session, study_row(session, study_name).id, name)

    def param_bounds(self, study_name: str, name: str) -> tuple[float, float] | None:
        """Smallest and largest value of a numeric parameter (None: not a number)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            if param_type(session, study.id, name) not in (int, float):
                return None
            kept = session.get(ParamRangeRow, (study.id, name))
            if kept is not None:
                return (kept.low, kept.high)
            column = TrialRow.params[name].as_float()  # a study not indexed: read them all
            low, high = session.execute(
                select(func.min(column), func.max(column)).where(TrialRow.study_id == study.id)
            ).one()
            return (float(low), float(high)) if low is not None else None

    def trial(self, study_name: str, number: int) -> TrialRecord:
        with self._scope() as session:
            return trial_record(trial_row(session, study_name, number), study_name)

    def best_trial(self, study_name: str, *, with_artifact: bool = False) -> TrialRecord | None:
        """The completed trial with the highest value (lowest number on ties)."""
        with self._scope() as session:
            study = study_row(session, study_name)
            query = select(TrialRow).where(
                TrialRow.study_id == study.id,
                TrialRow.state == TrialState.COMPLETE.value,
                TrialRow.value.is_not(None),
            )
            if with_artifact:
                query = query.join(ArtifactRow, ArtifactRow.trial_id == TrialRow.id)
            row = session.scalars(query.order_by(TrialRow.value.desc(), TrialRow.number)).first()
            return trial_record(row, study_name) if row else None

    def mark_interrupted(
        self,
        study_name: str,
        finished: dict[int, TrialState],
        reason: str = "worker stopped before the trial finished",
    ) -> int:
        """Close RUNNING rows whose Optuna trial already ended (a killed worker); returns count."""
        closed = 0
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.scalars(
                select(TrialRow).where(
                    TrialRow.study_id == study.id, TrialRow.state == TrialState.RUNNING.value
                )
            )
            for row in rows:
                if row.number in finished:
                    row.state = finished[row.number].value
                    row.finished_at = utcnow()
                    row.reason = row.reason or reason
                    closed += 1
        return closed

    # ------------------------------------------------------------------- epochs
    def epochs(self, study_name: str, numbers: Sequence[int] | None = None) -> list[EpochRecord]:
        with self._scope() as session:
            study = study_row(session, study_name)
            query = (
                select(EpochRow, TrialRow.number)
                .join(TrialRow, TrialRow.id == EpochRow.trial_id)
                .where(TrialRow.study_id == study.id)
            )
            if numbers is not None:
                query = query.where(TrialRow.number.in_(list(numbers)))
            rows = session.execute(query.order_by(TrialRow.number, EpochRow.epoch))
            return [epoch_record(row, number) for row, number in rows]

    # ---------------------------------------------------------------- artifacts
    def save_artifact(
        self, study_name: str, number: int, location: str, size_bytes: int, sha256: str
    ) -> ArtifactRecord:
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(ArtifactRow).where(ArtifactRow.trial_id == trial.id))
            if row is None:
                row = ArtifactRow(
                    trial_id=trial.id, location=location, size_bytes=size_bytes, sha256=sha256
                )
                session.add(row)
            else:
                row.location, row.size_bytes, row.sha256 = location, size_bytes, sha256
                row.created_at = utcnow()
            session.flush()
            return ArtifactRecord(number, row.location, row.size_bytes, row.sha256, row.created_at)

    def artifacts(self, study_name: str) -> list[ArtifactRecord]:
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.execute(
                select(ArtifactRow, TrialRow.number)
                .join(TrialRow, TrialRow.id == ArtifactRow.trial_id)
                .where(TrialRow.study_id == study.id)
                .order_by(TrialRow.number)
            )
            return [
                ArtifactRecord(n, a.location, a.size_bytes, a.sha256, a.created_at) for a, n in rows
            ]

    def artifact(self, study_name: str, number: int) -> ArtifactRecord | None:
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(ArtifactRow).where(ArtifactRow.trial_id == trial.id))
            if row is None:
                return None
            return ArtifactRecord(number, row.location, row.size_bytes, row.sha256, row.created_at)

    def delete_artifact(self, study_name: str, number: int) -> None:
        """Forget a trial's saved model (the caller removes the file)."""
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(ArtifactRow).where(ArtifactRow.trial_id == trial.id))
            if row is not None:
                session.delete(row)

    # -------------------------------------------------------------- evaluations
    def save_evaluation(
        self,
        study_name: str,
        number: int,
        *,
        accuracy: float,
        macro_f1: float,
        class_names: list[str],
        precision: list[float],
        recall: list[float],
        f1: list[float],
        support: list[int],
        confusion: list[list[int]],
        latency_ms_batch1: float | None = None,
        throughput_batch256: float | None = None,
        confidence_histogram: list[int] | None = None,
        overrides_sha256: str | None = None,
    ) -> EvaluationRecord:
        """Insert or replace a trial's test-set evaluation (cross-validation is kept)."""
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(EvaluationRow).where(EvaluationRow.trial_id == trial.id))
            if row is None:
                row = EvaluationRow(trial_id=trial.id)
                session.add(row)
            row.accuracy, row.macro_f1 = float(accuracy), float(macro_f1)
            row.per_class = {
                "class_names": list(class_names),
                "precision": [float(v) for v in precision],
                "recall": [float(v) for v in recall],
                "f1": [float(v) for v in f1],
                "support": [int(v) for v in support],
            }
            row.confusion = [[int(v) for v in r] for r in confusion]
            row.latency_ms_batch1 = latency_ms_batch1
            row.throughput_batch256 = throughput_batch256
            row.confidence_histogram = (
                [int(c) for c in confidence_histogram] if confidence_histogram else None
            )
            row.overrides_sha256 = overrides_sha256
            row.evaluated_at = utcnow()
            trial.updated_at = row.evaluated_at  # its table row shows the test accuracy
            session.flush()
            return evaluation_record(row, number)

    def save_cross_validation(
        self, study_name: str, number: int, scores: list[float]
    ) -> EvaluationRecord:
        if not scores:
            raise ValueError("no cross-validation scores")
        mean = sum(scores) / len(scores)
        std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(EvaluationRow).where(EvaluationRow.trial_id == trial.id))
            if row is None:
                raise StorageError(f"trial {number} has no test evaluation yet")
            row.cv_folds, row.cv_mean, row.cv_std = len(scores), mean, std
            row.cv_scores = [float(s) for s in scores]
            session.flush()
            return evaluation_record(row, number)

    def evaluation(self, study_name: str, number: int) -> EvaluationRecord | None:
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = session.scalar(select(EvaluationRow).where(EvaluationRow.trial_id == trial.id))
            return evaluation_record(row, number) if row else None

    # ---------------------------------------------------------------- champions
    def promote(self, study_name: str, number: int, note: str | None = None) -> PromotionRecord:
        """Make a trial the study's champion; the previous one is kept in the history."""
        with self._scope() as session:
            study = study_row(session, study_name)
            trial = trial_row(session, study_name, number)
            if trial.state != TrialState.COMPLETE.value:
                raise StorageError(f"trial {number} is {trial.state}, only COMPLETE trials can win")
            current = session.get(ChampionRow, study.id)
            previous_id = current.trial_id if current else None
            now = utcnow()
            if current is None:
                session.add(ChampionRow(study_id=study.id, trial_id=trial.id, promoted_at=now))
            else:
                current.trial_id, current.promoted_at = trial.id, now
            session.add(
                PromotionRow(
                    study_id=study.id,
                    trial_id=trial.id,
                    previous_trial_id=previous_id,
                    promoted_at=now,
                    note=note,
                )
            )
            previous_number = (
                session.get_one(TrialRow, previous_id).number if previous_id is not None else None
            )
            return PromotionRecord(number, previous_number, now, note)

    def champion(self, study_name: str) -> TrialRecord | None:
        with self._scope() as session:
            study = study_row(session, study_name)
            current = session.get(ChampionRow, study.id)
            if current is None:
                return None
            return trial_record(session.get_one(TrialRow, current.trial_id), study_name)

    def promotions(self, study_name: str) -> list[PromotionRecord]:
        """Promotion history, newest first."""
        winner, previous = aliased(TrialRow), aliased(TrialRow)
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.execute(
                select(PromotionRow, winner.number, previous.number)
                .join(winner, winner.id == PromotionRow.trial_id)
                .outerjoin(previous, previous.id == PromotionRow.previous_trial_id)
                .where(PromotionRow.study_id == study.id)
                .order_by(PromotionRow.promoted_at.desc(), PromotionRow.id.desc())
            )
            return [
                PromotionRecord(number, before, r.promoted_at, r.note) for r, number, before in rows
            ]

    # ------------------------------------------------------------------ exports
    def record_export(
        self, study_name: str, number: int, fmt: str, destination: str, sha256: str, size_bytes: int
    ) -> ExportRecord:
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            row = ExportRow(
                trial_id=trial.id,
                format=fmt,
                destination=destination,
                sha256=sha256,
                size_bytes=size_bytes,
            )
            session.add(row)
            session.flush()
            return ExportRecord(number, fmt, destination, sha256, size_bytes, row.exported_at)

    def exports(self, study_name: str) -> list[ExportRecord]:
        """Export history, newest first."""
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.execute(
                select(ExportRow, TrialRow.number)
                .join(TrialRow, TrialRow.id == ExportRow.trial_id)
                .where(TrialRow.study_id == study.id)
                .order_by(ExportRow.exported_at.desc(), ExportRow.id.desc())
            )
            return [
                ExportRecord(n, r.format, r.destination, r.sha256, r.size_bytes, r.exported_at)
                for r, n in rows
            ]


__all__ = ["TrialStore"]
