"""TrialStore: the one repository every reader and writer of project data goes through."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select, text
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased

from storage._errors import StorageError
from storage._migrations import schema_lock, upgrade_to_head
from storage._models import (
    ArtifactRow,
    ChampionRow,
    EpochRow,
    EvaluationRow,
    ExportRow,
    PredictionRow,
    PromotionRow,
    StudyRow,
    TrialRow,
    utcnow,
)
from storage._records import (
    ArtifactRecord,
    EpochRecord,
    EvaluationRecord,
    ExportRecord,
    PredictionRecord,
    PromotionRecord,
    StudyRecord,
    StudyStamp,
    StudySummary,
    TrialFilter,
    TrialPage,
    TrialPoint,
    TrialPoints,
    TrialRecord,
    TrialState,
)
from storage._session import (
    make_engine,
    make_session_factory,
    parse_url,
    retry_on_disconnect,
    session_scope,
)

DEFAULT_STORAGE_URL = "sqlite:///automl.db"

#: The columns a trials table sorts by in the database, besides ``param:<name>``.
SORT_KEYS = (
    "number",
    "value",
    "test_accuracy",
    "param_count",
    "epochs_run",
    "images_seen",
    "data_fraction",
    "duration_s",
)


def _study_record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        id=row.id,
        name=row.name,
        task=row.task,
        direction=row.direction,
        search_space_version=row.search_space_version,
        created_at=row.created_at,
        config=dict(row.config or {}),
    )


def _trial_record(row: TrialRow, study_name: str) -> TrialRecord:
    return TrialRecord(
        id=row.id,
        study_name=study_name,
        number=row.number,
        state=TrialState(row.state),
        params=dict(row.params or {}),
        param_count=row.param_count,
        value=row.value,
        best_epoch=row.best_epoch,
        epochs_run=row.epochs_run,
        pruned_at_epoch=row.pruned_at_epoch,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        reason=row.reason,
        test_accuracy=row.test_accuracy,
        test_loss=row.test_loss,
        phase=row.phase,
        data_fraction=row.data_fraction,
        images_seen=row.images_seen,
    )


def _epoch_record(row: EpochRow, number: int) -> EpochRecord:
    return EpochRecord(
        trial_number=number,
        epoch=row.epoch,
        loss=row.loss,
        accuracy=row.accuracy,
        val_loss=row.val_loss,
        val_accuracy=row.val_accuracy,
        learning_rate=row.learning_rate,
        seconds=row.seconds,
        data_fraction=row.data_fraction,
        images_seen=row.images_seen,
    )


def _prediction_record(row: PredictionRow) -> PredictionRecord:
    return PredictionRecord(
        **{f.name: getattr(row, f.name) for f in dataclasses.fields(PredictionRecord)}
    )


def _evaluation_record(row: EvaluationRow, number: int) -> EvaluationRecord:
    per_class = row.per_class
    return EvaluationRecord(
        trial_number=number,
        accuracy=row.accuracy,
        macro_f1=row.macro_f1,
        class_names=list(per_class["class_names"]),
        precision=list(per_class["precision"]),
        recall=list(per_class["recall"]),
        f1=list(per_class["f1"]),
        support=list(per_class["support"]),
        confusion=[list(r) for r in row.confusion],
        latency_ms_batch1=row.latency_ms_batch1,
        throughput_batch256=row.throughput_batch256,
        cv_folds=row.cv_folds,
        cv_mean=row.cv_mean,
        cv_std=row.cv_std,
        cv_scores=list(row.cv_scores) if row.cv_scores is not None else None,
        evaluated_at=row.evaluated_at,
        confidence_histogram=(
            [int(c) for c in row.confidence_histogram] if row.confidence_histogram else None
        ),
    )


def _retrying(cls: type) -> type:
    """Every public operation survives a database restart (see ``retry_on_disconnect``)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, retry_on_disconnect(member))
    return cls


@_retrying
class TrialStore:
    """Project data (studies, trials, epochs, artifacts, evaluations, champions) in one database.

    ``create=False`` opens an existing store only: a missing SQLite file is an error rather than
    silently creating an empty database (what a read-only dashboard wants).
    """

    def __init__(self, url: str = DEFAULT_STORAGE_URL, *, create: bool = True) -> None:
        self.url = url
        #: A server database: operations are retried after a lost connection.
        self.retries = parse_url(url).get_backend_name() != "sqlite"
        _check_sqlite_path(url, create)
        self._engine: Engine = make_engine(url)
        self._sessions = make_session_factory(self._engine)
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            upgrade_to_head(self._engine)
        except DBAPIError as exc:  # unreachable server, or a file that is not a database
            self._engine.dispose()
            raise _cannot_open(url, exc) from None

    @staticmethod
    def check(url: str) -> None:
        """Raise StorageError now if ``url`` cannot hold the store, creating and changing
        nothing: a search looks before it reads its data, which may take minutes, and
        creates the store only once the data is found good."""
        sqlite = parse_url(url).get_backend_name() == "sqlite"
        with _looking_into(url) as conn:
            if conn is not None:  # SQLite reads the file's header at the first table
                conn.execute(text("SELECT count(*) FROM sqlite_master" if sqlite else "SELECT 1"))

    @staticmethod
    def holds_study(url: str, name: str) -> bool:
        """Whether the store at ``url`` holds study ``name``, creating and changing nothing."""
        with _looking_into(url) as conn:
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
            return _study_record(row)

    def get_study(self, name: str) -> StudyRecord:
        with self._scope() as session:
            return _study_record(self._study_row(session, name))

    def study_names(self) -> list[str]:
        with self._scope() as session:
            return list(session.scalars(select(StudyRow.name).order_by(StudyRow.id)))

    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial counts, best value, champion and last activity."""
        with self._scope() as session:
            studies = list(session.scalars(select(StudyRow).order_by(StudyRow.id)))
            counts: dict[int, dict[TrialState, int]] = {s.id: {} for s in studies}
            for study_id, state, n in session.execute(
                select(TrialRow.study_id, TrialRow.state, func.count()).group_by(
                    TrialRow.study_id, TrialRow.state
                )
            ):
                counts[study_id][TrialState(state)] = n
            # Per study: the latest change, then the best value and the first trial with it
            # (each an index lookup on (study_id, updated_at) / (study_id, value)).
            last = dict(
                session.execute(
                    select(TrialRow.study_id, func.max(TrialRow.updated_at)).group_by(
                        TrialRow.study_id
                    )
                ).all()
            )
            best: dict[int, tuple[float, int]] = {}
            for study in studies:
                top = session.execute(
                    select(TrialRow.value, TrialRow.number)
                    .where(
                        TrialRow.study_id == study.id,
                        TrialRow.state == TrialState.COMPLETE.value,
                        TrialRow.value.is_not(None),
                    )
                    .order_by(TrialRow.value.desc(), TrialRow.number)
                    .limit(1)
                ).first()
                if top is not None:
                    best[study.id] = (top[0], top[1])
            champions = dict(
                session.execute(
                    select(ChampionRow.study_id, TrialRow.number).join(
                        TrialRow, TrialRow.id == ChampionRow.trial_id
                    )
                ).all()
            )
            return [
                StudySummary(
                    study=_study_record(s),
                    counts=counts[s.id],
                    best_value=best[s.id][0] if s.id in best else None,
                    best_trial_number=best[s.id][1] if s.id in best else None,
                    last_activity=_as_utc(last.get(s.id)),
                    champion_trial_number=champions.get(s.id),
                )
                for s in studies
            ]

    # ------------------------------------------------------------------- trials
    def start_trial(self, study_name: str, number: int, phase: str = "search") -> TrialRecord:
        with self._scope() as session:
            study = self._study_row(session, study_name)
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
            return _trial_record(row, study_name)

    def set_trial_params(self, trial_id: int, params: dict[str, Any], param_count: int) -> None:
        with self._scope() as session:
            row = session.get_one(TrialRow, trial_id)
            row.params = params
            row.param_count = param_count

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
            row.loss, row.accuracy = _finite(loss), _finite(accuracy)
            row.val_loss, row.val_accuracy = _finite(val_loss), _finite(val_accuracy)
            row.learning_rate, row.seconds = _finite(learning_rate), seconds
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
            row.value = _finite(value)
            row.best_epoch = best_epoch
            row.pruned_at_epoch = pruned_at_epoch
            row.reason = reason
            row.finished_at = utcnow()
            row.duration_s = (row.finished_at - _as_utc(row.started_at)).total_seconds()
            return _trial_record(row, row.study.name)

    def set_test_score(self, study_name: str, number: int, accuracy: float, loss: float) -> None:
        with self._scope() as session:
            row = self._trial_row(session, study_name, number)
            row.test_accuracy, row.test_loss = float(accuracy), float(loss)

    def trials(
        self, study_name: str, states: Iterable[TrialState] | None = None
    ) -> list[TrialRecord]:
        with self._scope() as session:
            study = self._study_row(session, study_name)
            query = select(TrialRow).where(TrialRow.study_id == study.id)
            if states is not None:
                query = query.where(TrialRow.state.in_([s.value for s in states]))
            rows = session.scalars(query.order_by(TrialRow.number))
            return [_trial_record(r, study_name) for r in rows]

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
            study = self._study_row(session, study_name)
            conditions = _trial_conditions(study.id, where or TrialFilter())
            total, study_total = session.execute(
                select(func.count().filter(and_(*conditions)), func.count()).where(
                    TrialRow.study_id == study.id
                )
            ).one()
            rows = self._sorted_trials(
                session, study.id, conditions, sort, descending, offset, limit
            )
            tested = dict(
                session.execute(
                    select(TrialRow.number, EvaluationRow.accuracy)
                    .join(EvaluationRow, EvaluationRow.trial_id == TrialRow.id)
                    .where(TrialRow.id.in_([row.id for row in rows]))
                ).all()
            )
            return TrialPage(
                trials=[_trial_record(row, study_name) for row in rows],
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
            study = self._study_row(session, study_name)
            conditions = _trial_conditions(study.id, where or TrialFilter())
            rows = self._sorted_trials(session, study.id, conditions, sort, descending, 0, limit)
            return [_trial_record(row, study_name) for row in rows]

    @staticmethod
    def _sorted_trials(
        session: Session,
        study_id: int,
        conditions: list[ColumnElement[bool]],
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[TrialRow]:
        query = select(TrialRow).where(*conditions)
        if sort.startswith("param:"):
            param = TrialRow.params[sort.removeprefix("param:")]
            numeric = _param_type(session, study_id, sort.removeprefix("param:"))
            key = param.as_float() if numeric in (int, float) else param.as_string()
        elif sort == "test_accuracy":  # the only order that needs the evaluations joined
            query = query.outerjoin(EvaluationRow, EvaluationRow.trial_id == TrialRow.id)
            key = func.coalesce(EvaluationRow.accuracy, TrialRow.test_accuracy)
        elif sort in SORT_KEYS:
            key = getattr(TrialRow, sort)
        else:
            raise StorageError(
                f"cannot sort trials by {sort!r}; choose one of {', '.join(SORT_KEYS)} "
                "or param:<name>"
            )
        key = key.desc() if descending else key.asc()
        # Trial numbers are unique and never NULL: the (study_id, number) index alone
        # serves them (PostgreSQL cannot use it for NULLS LAST).
        order = (key,) if sort == "number" else (key.nulls_last(), TrialRow.number)
        query = query.order_by(*order).offset(max(0, offset)).limit(max(1, limit))
        return list(session.scalars(query))

    def trials_by_numbers(self, study_name: str, numbers: Iterable[int]) -> list[TrialRecord]:
        """Just these trials (unknown numbers are left out), by number."""
        wanted = sorted({int(n) for n in numbers})
        if not wanted:
            return []
        with self._scope() as session:
            study = self._study_row(session, study_name)
            rows = session.scalars(
                select(TrialRow)
                .where(TrialRow.study_id == study.id, TrialRow.number.in_(wanted))
                .order_by(TrialRow.number)
            )
            return [_trial_record(r, study_name) for r in rows]

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
            study = self._study_row(session, study_name)
            mine = TrialRow.study_id == study.id
            has_value = TrialRow.value.is_not(None)
            complete = and_(TrialRow.state == TrialState.COMPLETE.value, has_value)
            sized = and_(complete, TrialRow.param_count > 0)
            n_trials, n_finished, n_completed, n_sized = session.execute(
                select(
                    func.count(),
                    func.count().filter(has_value, TrialRow.state != TrialState.RUNNING.value),
                    func.count().filter(complete),
                    func.count().filter(sized),
                ).where(mine)
            ).one()
            query = select(
                TrialRow.number, TrialRow.state, TrialRow.value, TrialRow.param_count
            ).where(mine)
            if limit is not None and n_trials > limit:
                kept = set(
                    _record_setters(session, (mine, complete), (TrialRow.number,))
                    + _record_setters(
                        session,
                        (mine, sized),
                        (TrialRow.param_count, TrialRow.value.desc(), TrialRow.number),
                    )
                    + list(
                        session.scalars(
                            select(TrialRow.number)
                            .where(mine, complete)
                            .order_by(TrialRow.value.desc(), TrialRow.number)
                            .limit(keep_best)
                        )
                    )
                )
                share = max(0, limit - len(kept)) / n_trials
                query = query.where(
                    or_(
                        _spread(TrialRow.number) < round(share * _SPREAD), TrialRow.number.in_(kept)
                    )
                )
            states = {s.value: s for s in TrialState}
            return TrialPoints(
                points=tuple(
                    TrialPoint(n, states[s], v, c)
                    for n, s, v, c in session.execute(query.order_by(TrialRow.number))
                ),
                finished=n_finished or 0,
                completed=n_completed or 0,
                sized=n_sized or 0,
            )

    def study_stamp(self, study_name: str) -> StudyStamp:
        """How many trials, and when one last changed: one small aggregate (a covering-index
        scan on SQLite, 14 ms at 50,000 trials on PostgreSQL)."""
        with self._scope() as session:
            study = self._study_row(session, study_name)
            count, updated = session.execute(
                select(func.count(), func.max(TrialRow.updated_at)).where(
                    TrialRow.study_id == study.id
                )
            ).one()
            return StudyStamp(count, _as_utc(updated))

    def param_names(self, study_name: str, sample: int = 1000) -> list[str]:
        """The parameters of the study's latest trials, in first-seen order (a search space
        is conditional: the latest trials name them all between them)."""
        with self._scope() as session:
            study = self._study_row(session, study_name)
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
            study = self._study_row(session, study_name)
            kind = _param_type(session, study.id, name)
            column = _param_text(name)
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
            ((v, _param_label(v, kind)) for v in raw), key=lambda pair: _label_order(pair[1])
        )

    def param_kind(self, study_name: str, name: str) -> type | None:
        """The Python type of a parameter's values (None: no trial has it)."""
        with self._scope() as session:
            return _param_type(session, self._study_row(session, study_name).id, name)

    def param_bounds(self, study_name: str, name: str) -> tuple[float, float] | None:
        """Smallest and largest value of a numeric parameter (None: not a number)."""
        with self._scope() as session:
            study = self._study_row(session, study_name)
            if _param_type(session, study.id, name) not in (int, float):
                return None
            column = TrialRow.params[name].as_float()
            low, high = session.execute(
                select(func.min(column), func.max(column)).where(TrialRow.study_id == study.id)
            ).one()
            return (float(low), float(high)) if low is not None else None

    def trial(self, study_name: str, number: int) -> TrialRecord:
        with self._scope() as session:
            return _trial_record(self._trial_row(session, study_name, number), study_name)

    def best_trial(self, study_name: str, *, with_artifact: bool = False) -> TrialRecord | None:
        """The completed trial with the highest value (lowest number on ties)."""
        with self._scope() as session:
            study = self._study_row(session, study_name)
            query = select(TrialRow).where(
                TrialRow.study_id == study.id,
                TrialRow.state == TrialState.COMPLETE.value,
                TrialRow.value.is_not(None),
            )
            if with_artifact:
                query = query.join(ArtifactRow, ArtifactRow.trial_id == TrialRow.id)
            row = session.scalars(query.order_by(TrialRow.value.desc(), TrialRow.number)).first()
            return _trial_record(row, study_name) if row else None

    def mark_interrupted(
        self,
        study_name: str,
        finished: dict[int, TrialState],
        reason: str = "worker stopped before the trial finished",
    ) -> int:
        """Close RUNNING rows whose Optuna trial already ended (a killed worker); returns count."""
        closed = 0
        with self._scope() as session:
            study = self._study_row(session, study_name)
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
            study = self._study_row(session, study_name)
            query = (
                select(EpochRow, TrialRow.number)
                .join(TrialRow, TrialRow.id == EpochRow.trial_id)
                .where(TrialRow.study_id == study.id)
            )
            if numbers is not None:
                query = query.where(TrialRow.number.in_(list(numbers)))
            rows = session.execute(query.order_by(TrialRow.number, EpochRow.epoch))
            return [_epoch_record(row, number) for row, number in rows]

    # ---------------------------------------------------------------- artifacts
    def save_artifact(
        self, study_name: str, number: int, location: str, size_bytes: int, sha256: str
    ) -> ArtifactRecord:
        with self._scope() as session:
            trial = self._trial_row(session, study_name, number)
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
            study = self._study_row(session, study_name)
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
            trial = self._trial_row(session, study_name, number)
            row = session.scalar(select(ArtifactRow).where(ArtifactRow.trial_id == trial.id))
            if row is None:
                return None
            return ArtifactRecord(number, row.location, row.size_bytes, row.sha256, row.created_at)

    def delete_artifact(self, study_name: str, number: int) -> None:
        """Forget a trial's saved model (the caller removes the file)."""
        with self._scope() as session:
            trial = self._trial_row(session, study_name, number)
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
    ) -> EvaluationRecord:
        """Insert or replace a trial's test-set evaluation (cross-validation is kept)."""
        with self._scope() as session:
            trial = self._trial_row(session, study_name, number)
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
            row.evaluated_at = utcnow()
            trial.updated_at = row.evaluated_at  # its table row shows the test accuracy
            session.flush()
            return _evaluation_record(row, number)

    def save_cross_validation(
        self, study_name: str, number: int, scores: list[float]
    ) -> EvaluationRecord:
        if not scores:
            raise ValueError("no cross-validation scores")
        mean = sum(scores) / len(scores)
        std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
        with self._scope() as session:
            trial = self._trial_row(session, study_name, number)
            row = session.scalar(select(EvaluationRow).where(EvaluationRow.trial_id == trial.id))
            if row is None:
                raise StorageError(f"trial {number} has no test evaluation yet")
            row.cv_folds, row.cv_mean, row.cv_std = len(scores), mean, std
            row.cv_scores = [float(s) for s in scores]
            session.flush()
            return _evaluation_record(row, number)

    def evaluation(self, study_name: str, number: int) -> EvaluationRecord | None:
        with self._scope() as session:
            trial = self._trial_row(session, study_name, number)
            row = session.scalar(select(EvaluationRow).where(EvaluationRow.trial_id == trial.id))
            return _evaluation_record(row, number) if row else None

    # -------------------------------------------------------------- predictions
    def record_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Append served answers in one transaction (the server's log writer batches them)."""
        if not records:
            return
        with self._scope() as session:
            session.add_all(PredictionRow(**dataclasses.asdict(r)) for r in records)

    def predictions(
        self, model_name: str, since: datetime, limit: int = 200_000
    ) -> list[PredictionRecord]:
        """A model's logged answers since ``since``, oldest first (at most the newest
        ``limit``)."""
        with self._scope() as session:
            rows = session.scalars(
                select(PredictionRow)
                .where(PredictionRow.model_name == model_name, PredictionRow.created_at >= since)
                .order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
                .limit(limit)
            ).all()
            return [_prediction_record(row) for row in reversed(rows)]

    def served_models(self) -> list[str]:
        """Names of the models that have logged answers, most recent first."""
        with self._scope() as session:
            rows = session.execute(
                select(PredictionRow.model_name, func.max(PredictionRow.created_at))
                .group_by(PredictionRow.model_name)
                .order_by(func.max(PredictionRow.created_at).desc())
            )
            return [name for name, _ in rows]

    # ---------------------------------------------------------------- champions
    def promote(self, study_name: str, number: int, note: str | None = None) -> PromotionRecord:
        """Make a trial the study's champion; the previous one is kept in the history."""
        with self._scope() as session:
            study = self._study_row(session, study_name)
            trial = self._trial_row(session, study_name, number)
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
            study = self._study_row(session, study_name)
            current = session.get(ChampionRow, study.id)
            if current is None:
                return None
            return _trial_record(session.get_one(TrialRow, current.trial_id), study_name)

    def promotions(self, study_name: str) -> list[PromotionRecord]:
        """Promotion history, newest first."""
        winner, previous = aliased(TrialRow), aliased(TrialRow)
        with self._scope() as session:
            study = self._study_row(session, study_name)
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
            trial = self._trial_row(session, study_name, number)
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
            study = self._study_row(session, study_name)
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

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _study_row(session: Session, name: str) -> StudyRow:
        row = session.scalar(select(StudyRow).where(StudyRow.name == name))
        if row is None:
            known = list(session.scalars(select(StudyRow.name).order_by(StudyRow.id)))
            hint = f"; known studies: {', '.join(known)}" if known else "; the store has none"
            raise StorageError(f"no study named {name!r}{hint}")
        return row

    def _trial_row(self, session: Session, study_name: str, number: int) -> TrialRow:
        study = self._study_row(session, study_name)
        row = session.scalar(
            select(TrialRow).where(TrialRow.study_id == study.id, TrialRow.number == number)
        )
        if row is None:
            raise StorageError(f"study {study_name!r} has no trial {number}")
        return row


def _trial_conditions(study_id: int, where: TrialFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [TrialRow.study_id == study_id]
    if where.states is not None:
        conditions.append(TrialRow.state.in_(where.states))
    if where.phases is not None:
        conditions.append(TrialRow.phase.in_(where.phases))
    if where.min_epochs is not None:
        conditions.append(TrialRow.epochs_run >= where.min_epochs)
    if where.value_range is not None:
        low, high = where.value_range
        in_range = TrialRow.value.between(low, high)
        conditions.append(or_(in_range, TrialRow.value.is_(None)) if low <= 0 else in_range)
    if where.param and where.param_values is not None:
        conditions.append(_param_text(where.param).in_(where.param_values))
    if where.param and where.param_range is not None:
        conditions.append(TrialRow.params[where.param].as_float().between(*where.param_range))
    return conditions


def _param_text(name: str) -> ColumnElement[str]:
    """A parameter as text, the same on every read: values listed and values filtered on
    compare exactly (SQLite's JSON_EXTRACT hands back numbers, which never equal text)."""
    return cast(TrialRow.params[name].as_string(), String)


def _param_type(session: Session, study_id: int, name: str) -> type | None:
    """The Python type of one stored value of a parameter (None: no trial has it)."""
    column = TrialRow.params[name]
    params = session.scalar(
        select(TrialRow.params)
        .where(TrialRow.study_id == study_id, column.as_string().is_not(None))
        .limit(1)
    )
    return type(params[name]) if params else None


def _param_label(raw: Any, kind: type | None) -> str:
    """What a user reads for a stored parameter value (a list as '32, 64'; SQLite hands
    booleans back as 1 and 0)."""
    if kind is bool:
        return "true" if str(raw) in ("1", "true") else "false"
    if isinstance(raw, str) and kind is not str:
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    return ", ".join(map(str, raw)) if isinstance(raw, list) else str(raw)


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _finite(value: float | None) -> float | None:
    """NaN/inf are not portable across databases: store them as NULL."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _check_sqlite_path(url: str, create: bool) -> bool:
    """An SQLite file must exist to be opened, its folder to be created; returns whether
    there is a database to look into (a server's, or an SQLite file that exists)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    if parsed.database in (None, "", ":memory:"):
        return False
    db_path = Path(parsed.database)
    if not create and not db_path.exists():
        raise StorageError(f"no database at {db_path} (run a search first)")
    if create and not db_path.parent.exists():
        raise StorageError(f"directory {db_path.parent} for the database does not exist")
    return db_path.exists()


@contextmanager
def _looking_into(url: str) -> Iterator[Connection | None]:
    """A connection that creates and changes nothing (no WAL switch, no schema), or ``None``
    for an SQLite file that does not exist yet; a database that cannot be opened raises."""
    if not _check_sqlite_path(url, create=True):
        yield None
        return
    engine = make_engine(url, plain=True)
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise _cannot_open(url, exc) from None
    finally:
        engine.dispose()


def _cannot_open(url: str, exc: DBAPIError) -> StorageError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return StorageError(f"cannot open database {_redacted(url)}: {reason}")


def _redacted(url: str) -> str:
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except StorageError:
        return url


#: A prime: ``_spread`` maps trial numbers onto 0..``_SPREAD``-1 in a scrambled order.
_SPREAD = 10_007


def _spread(number: ColumnElement[int]) -> ColumnElement[int]:
    """A fixed pseudo-random residue of a trial number (a multiplicative hash modulo a prime,
    kept within 32-bit integers on every database): ``_spread(n) < k`` picks about
    ``k / _SPREAD`` of the trials, spread over the whole study."""
    return ((number % _SPREAD) * 7919 + 13) % _SPREAD


def _record_setters(
    session: Session, conditions: Sequence[ColumnElement[bool]], order: Sequence[Any]
) -> list[int]:
    """Numbers of the trials whose value beats every trial before them in ``order``: the
    best-so-far steps by number, or the size front by (size, best first). One window
    function over the matching rows."""
    before = func.max(TrialRow.value).over(order_by=list(order), rows=(None, -1))
    ranked = select(TrialRow.number, TrialRow.value, before.label("before")).where(*conditions)
    ranked = ranked.subquery()
    return list(
        session.scalars(
            select(ranked.c.number).where(
                or_(ranked.c.before.is_(None), ranked.c.value > ranked.c.before)
            )
        )
    )


__all__ = ["DEFAULT_STORAGE_URL", "SORT_KEYS", "TrialStore"]
