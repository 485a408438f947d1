"""The store's SQL: find-or-raise lookups, filters, sorting, and the aggregate reads that
would be slow done in Python (summaries, sampled analysis points)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, delete, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage._errors import StorageError
from storage._mapping import as_utc, study_record
from storage._models import (
    ChampionRow,
    EvaluationRow,
    ParamRangeRow,
    ParamValueRow,
    StudyRow,
    TrialRow,
)
from storage._records import (
    StudySummary,
    TrialFilter,
    TrialPoint,
    TrialPoints,
    TrialState,
)

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


def study_row(session: Session, name: str) -> StudyRow:
    """The study named ``name``, or a StorageError that lists the known ones."""
    row = session.scalar(select(StudyRow).where(StudyRow.name == name))
    if row is None:
        known = list(session.scalars(select(StudyRow.name).order_by(StudyRow.id)))
        hint = f"; known studies: {', '.join(known)}" if known else "; the store has none"
        raise StorageError(f"no study named {name!r}{hint}")
    return row


def trial_row(session: Session, study_name: str, number: int) -> TrialRow:
    """Trial ``number`` of the study, or a StorageError."""
    study = study_row(session, study_name)
    row = session.scalar(
        select(TrialRow).where(TrialRow.study_id == study.id, TrialRow.number == number)
    )
    if row is None:
        raise StorageError(f"study {study_name!r} has no trial {number}")
    return row


def study_summaries(session: Session) -> list[StudySummary]:
    """Every study with its trial counts, best value, champion and last activity."""
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
            select(TrialRow.study_id, func.max(TrialRow.updated_at)).group_by(TrialRow.study_id)
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
            study=study_record(s),
            counts=counts[s.id],
            best_value=best[s.id][0] if s.id in best else None,
            best_trial_number=best[s.id][1] if s.id in best else None,
            last_activity=as_utc(last.get(s.id)),
            champion_trial_number=champions.get(s.id),
        )
        for s in studies
    ]


def sorted_trials(
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
        numeric = param_type(session, study_id, sort.removeprefix("param:"))
        key = param.as_float() if numeric in (int, float) else param.as_string()
    elif sort == "test_accuracy":  # the only order that needs the evaluations joined
        query = query.outerjoin(EvaluationRow, EvaluationRow.trial_id == TrialRow.id)
        key = func.coalesce(EvaluationRow.accuracy, TrialRow.test_accuracy)
    elif sort in SORT_KEYS:
        key = getattr(TrialRow, sort)
    else:
        raise StorageError(
            f"cannot sort trials by {sort!r}; choose one of {', '.join(SORT_KEYS)} or param:<name>"
        )
    key = key.desc() if descending else key.asc()
    # Trial numbers are unique and never NULL: the (study_id, number) index alone
    # serves them (PostgreSQL cannot use it for NULLS LAST).
    order = (key,) if sort == "number" else (key.nulls_last(), TrialRow.number)
    query = query.order_by(*order).offset(max(0, offset)).limit(max(1, limit))
    return list(session.scalars(query))


def trial_points(session: Session, study_id: int, limit: int | None, keep_best: int) -> TrialPoints:
    """Number, state, value and size of the study's trials: what the analysis charts
    plot, without the parameters. Past ``limit`` trials, about ``limit`` of them: the
    best-so-far steps, the best for their size and the ``keep_best`` best completed
    (window functions and an index walk in the database), and a spread of the rest chosen
    by a fixed hash of the number, the same trials on every refresh. So a 50,000-trial
    study is never read whole, and the charts' lines are exact."""
    mine = TrialRow.study_id == study_id
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
    query = select(TrialRow.number, TrialRow.state, TrialRow.value, TrialRow.param_count).where(
        mine
    )
    if limit is not None and n_trials > limit:
        kept = set(
            record_setters(session, (mine, complete), (TrialRow.number,))
            + record_setters(
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
            or_(spread(TrialRow.number) < round(share * SPREAD), TrialRow.number.in_(kept))
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


def trial_conditions(study_id: int, where: TrialFilter) -> list[ColumnElement[bool]]:
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
        conditions.append(param_text(where.param).in_(where.param_values))
    if where.param and where.param_range is not None:
        conditions.append(TrialRow.params[where.param].as_float().between(*where.param_range))
    return conditions


def param_text(name: str) -> ColumnElement[str]:
    """A parameter as text, the same on every read: values listed and values filtered on
    compare exactly (SQLite's JSON_EXTRACT hands back numbers, which never equal text)."""
    return cast(TrialRow.params[name].as_string(), String)


def param_type(session: Session, study_id: int, name: str) -> type | None:
    """The Python type of one stored value of a parameter (None: no trial has it)."""
    column = TrialRow.params[name]
    params = session.scalar(
        select(TrialRow.params)
        .where(TrialRow.study_id == study_id, column.as_string().is_not(None))
        .limit(1)
    )
    return type(params[name]) if params else None


def param_label(raw: Any, kind: type | None) -> str:
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


def label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


#: A prime: ``_spread`` maps trial numbers onto 0..``SPREAD``-1 in a scrambled order.
SPREAD = 10_007


def spread(number: ColumnElement[int]) -> ColumnElement[int]:
    """A fixed pseudo-random residue of a trial number (a multiplicative hash modulo a prime,
    kept within 32-bit integers on every database): ``spread(n) < k`` picks about
    ``k / SPREAD`` of the trials, spread over the whole study."""
    return ((number % SPREAD) * 7919 + 13) % SPREAD


def record_setters(
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _insert(session: Session, table: type) -> Any:
    """An INSERT that can skip or merge a row already there (both dialects say it alike)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def record_param_values(session: Session, trial: TrialRow, params: dict[str, Any]) -> None:
    """Add a trial's parameters to its study's value lists and numeric ranges. Each value's
    text comes from the database's own reading of the row, so it equals what the filters
    compare; a value or range already there is kept (workers may race: both skip or merge)."""
    for name, value in params.items():
        if value is None:
            continue
        if not isinstance(value, float):  # categories, integers, flags, lists
            text = param_text(name)
            session.execute(
                _insert(session, ParamValueRow)
                .from_select(
                    ["study_id", "name", "value"],
                    select(TrialRow.study_id, literal(name), text).where(
                        TrialRow.id == trial.id, text.is_not(None)
                    ),
                )
                .on_conflict_do_nothing()
            )
        if _is_number(value):
            upsert = _insert(session, ParamRangeRow).values(
                study_id=trial.study_id, name=name, low=float(value), high=float(value)
            )
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["study_id", "name"],
                    set_={
                        "low": case(
                            (upsert.excluded.low < ParamRangeRow.low, upsert.excluded.low),
                            else_=ParamRangeRow.low,
                        ),
                        "high": case(
                            (upsert.excluded.high > ParamRangeRow.high, upsert.excluded.high),
                            else_=ParamRangeRow.high,
                        ),
                    },
                )
            )


def rebuild_param_values(session: Session, study_id: int) -> None:
    """A study's value lists and ranges made anew from all its trials (migration 0007, and
    studies written without the store, like the dashboard benchmark's)."""
    session.execute(delete(ParamValueRow).where(ParamValueRow.study_id == study_id))
    session.execute(delete(ParamRangeRow).where(ParamRangeRow.study_id == study_id))
    kinds: dict[str, Any] = {}
    for params in session.scalars(
        select(TrialRow.params)
        .where(TrialRow.study_id == study_id)
        .execution_options(yield_per=2000)
    ):
        for name, value in (params or {}).items():
            if value is not None:
                kinds.setdefault(name, value)
    mine = TrialRow.study_id == study_id
    for name, example in kinds.items():
        if not isinstance(example, float):
            text = param_text(name)
            session.execute(
                _insert(session, ParamValueRow)
                .from_select(
                    ["study_id", "name", "value"],
                    select(TrialRow.study_id, literal(name), text)
                    .where(mine, text.is_not(None))
                    .distinct(),
                )
                .on_conflict_do_nothing()
            )
        if _is_number(example):
            number = TrialRow.params[name].as_float()
            low, high = session.execute(
                select(func.min(number), func.max(number)).where(mine)
            ).one()
            if low is not None:
                session.add(
                    ParamRangeRow(study_id=study_id, name=name, low=float(low), high=float(high))
                )


__all__ = [
    "SORT_KEYS",
    "label_order",
    "param_label",
    "param_text",
    "param_type",
    "rebuild_param_values",
    "record_param_values",
    "record_setters",
    "sorted_trials",
    "study_row",
    "study_summaries",
    "trial_conditions",
    "trial_points",
    "trial_row",
]
