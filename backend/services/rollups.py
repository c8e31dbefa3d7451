"""Coverage roll-ups: one row per household and China month (``household_visit_months``).

Coverage over a month or a quarter reads these rows instead of the visits table, so a county of
300,000 households is one indexed pass over one small row per household.

How the rows stay right:

- **Ingest** (``record_visit``, called by ``services/visits.py`` in the visit's transaction)
  adds the new visit to its household's month with one ``INSERT … ON CONFLICT DO UPDATE`` of
  increments. Increments commute, so concurrent visits of one household never lose each other.
- **Review decisions, assignment and household changes** (a visit marked valid or invalid, a
  helper reassigned, possibly back-dated, a household moved to another group or category)
  change how earlier visits count, or where. A session listener notices
  them at flush — whichever service made them — and rebuilds the rows of the households
  concerned from their visits (``rebuild_household_months``), after locking those households so
  that no visit of theirs is being ingested at the same moment. Code that changes
  ``visits.review_status``, ``assignments`` or a household's region or category with bulk
  ``UPDATE`` statements bypasses the listener and must call ``rebuild_household_months``.
- ``rebuild_household_months()`` with no argument rebuilds everything (maintenance, benchmarks).

The one classification of a visit (``visit_kind`` in Python, ``_kind_sql`` in SQL):

- made by someone other than the helper assigned on its China date → ``other`` (``none`` if
  also invalid);
- reviewed invalid → ``invalid``;
- flagged and not reviewed valid → ``pending`` (counts when COVERAGE_COUNT_UNREVIEWED_FLAGGED);
- otherwise → ``counted``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    and_,
    bindparam,
    case,
    delete,
    event,
    exists,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from backend import jsonfast
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    HouseholdVisitMonth,
    RegionVisitMonth,
    ReviewStatus,
    Visit,
    utcnow,
)
from backend.services.clock import CHINA_TZ

COUNTED = "counted"
PENDING = "pending"
INVALID = "invalid"
OTHER = "other"
NONE = "none"

_PENDING_KEY = "hhq_rollup_households"
# Household columns copied into the roll-up rows.
_HOUSEHOLD_COPIES = ("region_id", "village_id", "category")
_CHUNK = 500


class china_date(FunctionElement):
    """The China calendar date of a UTC timestamp, in SQL."""

    type = Date()
    inherit_cache = True
    name = "china_date"


class china_month(FunctionElement):
    """The first day of the China calendar month of a UTC timestamp, in SQL."""

    type = Date()
    inherit_cache = True
    name = "china_month"


def _china_wall(element, compiler, **kw) -> str:
    # timestamptz → UTC wall clock → China wall clock (a fixed +08:00, see services/clock.py).
    arg = compiler.process(element.clauses, **kw)
    return f"(({arg}) AT TIME ZONE 'UTC') + INTERVAL '8 hours'"


@compiles(china_date, "postgresql")
def _china_date_pg(element, compiler, **kw):
    return f"CAST({_china_wall(element, compiler, **kw)} AS DATE)"


@compiles(china_month, "postgresql")
def _china_month_pg(element, compiler, **kw):
    return f"CAST(date_trunc('month', {_china_wall(element, compiler, **kw)}) AS DATE)"


@compiles(china_date)
def _china_date_sqlite(element, compiler, **kw):
    # SQLite keeps UTCDateTime as naive UTC text.
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(china_month)
def _china_month_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours', 'start of month')"


def month_of(moment: datetime) -> date:
    """The first day of the China month ``moment`` falls in."""
    return moment.astimezone(CHINA_TZ).date().replace(day=1)


def visit_kind(*, assigned: bool, review_status: str, flag_count: int) -> str:
    """How one visit counts for coverage (see the module docstring)."""
    if not assigned:
        return NONE if review_status == ReviewStatus.INVALID else OTHER
    if review_status == ReviewStatus.INVALID:
        return INVALID
    if flag_count > 0 and review_status != ReviewStatus.VALID:
        return PENDING
    return COUNTED


def assigned_at_visit(visit=Visit):
    """SQL: the visit was made by the helper assigned to its household on its China date."""
    day = china_date(visit.ended_at)
    return exists().where(
        Assignment.household_id == visit.household_id,
        Assignment.helper_id == visit.helper_id,
        Assignment.start_date <= day,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
    )


def kind_sql(*, assigned, review_status, flag_count):
    """SQL twin of ``visit_kind`` over columns (``assigned`` is 0/1)."""
    return case(
        (and_(assigned == 0, review_status == ReviewStatus.INVALID), literal(NONE)),
        (assigned == 0, literal(OTHER)),
        (review_status == ReviewStatus.INVALID, literal(INVALID)),
        (and_(flag_count > 0, review_status != ReviewStatus.VALID), literal(PENDING)),
        else_=literal(COUNTED),
    )


def assigned_on(*, household_id, helper_id, day: date):
    """SQL EXISTS: ``helper_id`` was assigned to ``household_id`` on the China date ``day``."""
    return exists().where(
        Assignment.household_id == household_id,
        Assignment.helper_id == helper_id,
        Assignment.start_date <= day,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
    )


def _is_assigned(visit: Visit) -> bool:
    day = visit.ended_at.astimezone(CHINA_TZ).date()
    return bool(
        db.session.scalar(
            select(assigned_on(household_id=visit.household_id, helper_id=visit.helper_id, day=day))
        )
    )


def _insert_for(dialect_name: str):
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


_COUNTS = ("counted_visits", "pending_visits", "flagged_visits", "invalid_visits", "other_visits")
_UPSERTS: dict[str, Any] = {}


def _upsert(dialect_name: str):
    """The ingest upsert, built once per dialect (values are bound at execution)."""
    if dialect_name not in _UPSERTS:
        t = HouseholdVisitMonth.__table__
        columns = ("household_id", "month", "region_id", "village_id", "category", *_COUNTS)
        names = (*columns, "last_counted_visit_id", "last_counted_at")
        names += ("last_pending_visit_id", "last_pending_at", "updated_at")
        insert = _insert_for(dialect_name)(t).values(
            {name: bindparam(name, type_=t.c[name].type) for name in names}
        )
        new = insert.excluded
        updates: dict[str, Any] = {name: t.c[name] + new[name] for name in _COUNTS}
        for prefix in ("last_counted", "last_pending"):
            at, vid = f"{prefix}_at", f"{prefix}_visit_id"
            newer = and_(
                new[at].is_not(None),
                or_(
                    t.c[at].is_(None),
                    new[at] > t.c[at],
                    and_(new[at] == t.c[at], new[vid] > t.c[vid]),
                ),
            )
            updates[at] = case((newer, new[at]), else_=t.c[at])
            updates[vid] = case((newer, new[vid]), else_=t.c[vid])
        for name in ("region_id", "village_id", "category", "updated_at"):
            updates[name] = new[name]
        _UPSERTS[dialect_name] = insert.on_conflict_do_update(
            index_elements=["household_id", "month"], set_=updates
        ).returning(t.c.household_id, t.c.month, t.c.counted_visits, t.c.pending_visits)
    return _UPSERTS[dialect_name]


def record_visit(
    *, visit: Visit, household: Household | None = None, assigned: bool | None = None
) -> None:
    """Add a just-stored visit to its household's month (one upsert of increments).

    ``assigned``: whether the visit's helper was assigned on its China date (``assigned_on``),
    when the caller already asked; ingest does, in the query that loads the household.
    """
    household = household or db.session.get(Household, visit.household_id)
    if assigned is None:
        assigned = _is_assigned(visit)
    record_visits(entries=[(visit, household, assigned)])


def record_visits(*, entries: Sequence[tuple[Visit, Household, bool]]) -> None:
    """Add just-stored visits to their households' months: two statements for any number.

    ``entries`` are (visit, household, assigned on the visit's China date), at most one visit
    per household: a multi-row upsert may not touch one row twice.
    """
    rows = []
    for visit, household, assigned in entries:
        values = _month_increments(visit, household, assigned)
        if values is not None:
            rows.append(values)
    if not rows:
        return
    # One lock order for every writer (concurrent batches must not deadlock on these rows).
    rows.sort(key=lambda v: (v["household_id"], v["month"]))
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(_RECORD_VISITS_PG, {"rows": jsonfast.json_param(rows, dialect=dialect)})
        return
    statement = _upsert(dialect)
    if len(rows) == 1:
        after = {
            (rows[0]["household_id"], rows[0]["month"]): db.session.execute(
                statement, rows[0]
            ).one()
        }
    else:
        after = {(r.household_id, r.month): r for r in db.session.execute(statement, rows)}
    sums: dict[tuple, dict[str, int]] = {}
    for values in rows:
        now = after[(values["household_id"], values["month"])]
        # The household's month before this visit, to know whether it just became visited.
        before_counted = now.counted_visits - values["counted_visits"]
        before_any = before_counted + now.pending_visits - values["pending_visits"]
        now_any = now.counted_visits + now.pending_visits
        key = (values["region_id"], values["month"], values["category"])
        total = sums.setdefault(
            key, dict.fromkeys(("households_counted", "households_any", *_COUNTS), 0)
        )
        total["households_counted"] += int(now.counted_visits > 0) - int(before_counted > 0)
        total["households_any"] += int(now_any > 0) - int(before_any > 0)
        for name in _COUNTS:
            total[name] += values[name]
    params = [
        {"region_id": region_id, "month": month, "category": category, **total}
        for (region_id, month, category), total in sorted(sums.items(), key=_region_order)
    ]
    db.session.execute(_region_upsert(dialect), params[0] if len(params) == 1 else params)


# On PostgreSQL both upserts are one statement of fixed text, with the rows as one JSON
# parameter: the multi-row upserts above are SQL text that differs with the batch's size, which
# SQLAlchemy and the driver build and parse anew (about a tenth of a visit's CPU at ingest). The
# same arithmetic as the Python path: a household's month before the visit is its row after the
# upsert minus the visit's increments.
_HOUSEHOLD_SETS = ",\n        ".join(
    [f"{name} = t.{name} + excluded.{name}" for name in _COUNTS]
    + [
        f"{prefix}_{column} = CASE WHEN excluded.{prefix}_at IS NOT NULL AND ("
        f"t.{prefix}_at IS NULL OR excluded.{prefix}_at > t.{prefix}_at OR ("
        f"excluded.{prefix}_at = t.{prefix}_at AND "
        f"excluded.{prefix}_visit_id > t.{prefix}_visit_id)) "
        f"THEN excluded.{prefix}_{column} ELSE t.{prefix}_{column} END"
        for prefix in ("last_counted", "last_pending")
        for column in ("at", "visit_id")
    ]
    + [
        f"{name} = excluded.{name}"
        for name in ("region_id", "village_id", "category", "updated_at")
    ]
)
_HOUSEHOLD_ROW = (
    ("household_id", "integer"),
    ("month", "date"),
    ("region_id", "integer"),
    ("village_id", "integer"),
    ("category", "text"),
    *((name, "integer") for name in _COUNTS),
    ("last_counted_visit_id", "integer"),
    ("last_counted_at", "timestamptz"),
    ("last_pending_visit_id", "integer"),
    ("last_pending_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
_HOUSEHOLD_NAMES = ", ".join(name for name, _kind in _HOUSEHOLD_ROW)
_RECORD_VISITS_PG = text(
    f"""
    WITH p AS (
        SELECT * FROM json_to_recordset(CAST(:rows AS json))
        AS p({", ".join(f"{name} {kind}" for name, kind in _HOUSEHOLD_ROW)})
    ),
    h AS (
        INSERT INTO household_visit_months AS t ({_HOUSEHOLD_NAMES})
        SELECT {_HOUSEHOLD_NAMES} FROM p ORDER BY household_id, month
        ON CONFLICT (household_id, month) DO UPDATE SET
        {_HOUSEHOLD_SETS}
        RETURNING t.household_id, t.month, t.counted_visits, t.pending_visits
    ),
    d AS (
        SELECT p.region_id, p.month, p.category,
               sum(CAST(h.counted_visits > 0 AS integer)
                   - CAST(h.counted_visits - p.counted_visits > 0 AS integer))
                   AS households_counted,
               sum(CAST(h.counted_visits + h.pending_visits > 0 AS integer)
                   - CAST(h.counted_visits - p.counted_visits
                          + h.pending_visits - p.pending_visits > 0 AS integer))
                   AS households_any,
               {", ".join(f"sum(p.{name}) AS {name}" for name in _COUNTS)}
        FROM p JOIN h ON h.household_id = p.household_id AND h.month = p.month
        GROUP BY p.region_id, p.month, p.category
    )
    INSERT INTO region_visit_months AS r
        (region_id, month, category, households_counted, households_any, {", ".join(_COUNTS)})
    SELECT region_id, month, category, households_counted, households_any, {", ".join(_COUNTS)}
    FROM d ORDER BY region_id, month, category
    ON CONFLICT (region_id, month, category) DO UPDATE SET
        {
        ", ".join(
            f"{name} = r.{name} + excluded.{name}"
            for name in ("households_counted", "households_any", *_COUNTS)
        )
    }
    """
)


def _region_order(item) -> tuple:
    (region_id, month, category), _total = item
    return (region_id, month, category or "")


def _month_increments(visit: Visit, household: Household, assigned: bool) -> dict | None:
    flag_count = visit.flag_count or 0
    kind = visit_kind(assigned=assigned, review_status=visit.review_status, flag_count=flag_count)
    if kind == NONE:
        return None
    return {
        "household_id": visit.household_id,
        "month": month_of(visit.ended_at),
        "region_id": household.region_id,
        "village_id": household.village_id,
        "category": household.category,
        "counted_visits": int(kind == COUNTED),
        "pending_visits": int(kind == PENDING),
        "flagged_visits": int(assigned and flag_count > 0),
        "invalid_visits": int(kind == INVALID),
        "other_visits": int(kind == OTHER),
        "last_counted_visit_id": visit.id if kind == COUNTED else None,
        "last_counted_at": visit.ended_at if kind == COUNTED else None,
        "last_pending_visit_id": visit.id if kind == PENDING else None,
        "last_pending_at": visit.ended_at if kind == PENDING else None,
        "updated_at": utcnow(),
    }


def _region_upsert(dialect_name: str):
    """The ingest upsert of the region sums, built once per dialect."""
    key = f"region:{dialect_name}"
    if key not in _UPSERTS:
        r = RegionVisitMonth.__table__
        insert = _insert_for(dialect_name)(r).values(
            {name: bindparam(name, type_=r.c[name].type) for name in _SUM_COLUMNS}
        )
        _UPSERTS[key] = insert.on_conflict_do_update(
            index_elements=["region_id", "month", "category"],
            set_={name: r.c[name] + insert.excluded[name] for name in _SUM_COLUMNS[3:]},
        )
    return _UPSERTS[key]


def _classified_visits(household_ids: Collection[int] | None):
    """Every visit (of ``household_ids``) with its month, kind and rank within its kind."""
    v = Visit.__table__
    assigned = case((assigned_at_visit(v.c), 1), else_=0)
    base = select(
        v.c.id,
        v.c.household_id,
        v.c.ended_at,
        v.c.flag_count,
        v.c.review_status,
        china_month(v.c.ended_at).label("month"),
        assigned.label("assigned"),
    )
    if household_ids is not None:
        base = base.where(v.c.household_id.in_(household_ids))
    base = base.subquery("b")
    kind = kind_sql(
        assigned=base.c.assigned, review_status=base.c.review_status, flag_count=base.c.flag_count
    )
    ranked = select(
        base.c.id,
        base.c.household_id,
        base.c.ended_at,
        base.c.flag_count,
        base.c.month,
        base.c.assigned,
        kind.label("kind"),
    ).subquery("k")
    rn = (
        func.row_number()
        .over(
            partition_by=(ranked.c.household_id, ranked.c.month, ranked.c.kind),
            order_by=(ranked.c.ended_at.desc(), ranked.c.id.desc()),
        )
        .label("rn")
    )
    return select(ranked, rn).subquery("c")


def household_month_rows(household_ids: Collection[int] | None = None):
    """SELECT of the roll-up rows as they should be, computed from the visits (set-based)."""
    c = _classified_visits(household_ids)
    h = Household.__table__

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    def latest(kind, column):
        return func.max(case((and_(c.c.kind == kind, c.c.rn == 1), column)))

    return (
        select(
            c.c.household_id,
            c.c.month,
            h.c.region_id,
            h.c.village_id,
            h.c.category,
            count(c.c.kind == COUNTED).label("counted_visits"),
            count(c.c.kind == PENDING).label("pending_visits"),
            count(and_(c.c.assigned == 1, c.c.flag_count > 0)).label("flagged_visits"),
            count(c.c.kind == INVALID).label("invalid_visits"),
            count(c.c.kind == OTHER).label("other_visits"),
            latest(COUNTED, c.c.id).label("last_counted_visit_id"),
            latest(COUNTED, c.c.ended_at).label("last_counted_at"),
            latest(PENDING, c.c.id).label("last_pending_visit_id"),
            latest(PENDING, c.c.ended_at).label("last_pending_at"),
        )
        .join(h, h.c.id == c.c.household_id)
        .where(c.c.kind != NONE)
        .group_by(c.c.household_id, c.c.month, h.c.region_id, h.c.village_id, h.c.category)
    )


_ROW_COLUMNS = (
    "household_id",
    "month",
    "region_id",
    "village_id",
    "category",
    "counted_visits",
    "pending_visits",
    "flagged_visits",
    "invalid_visits",
    "other_visits",
    "last_counted_visit_id",
    "last_counted_at",
    "last_pending_visit_id",
    "last_pending_at",
)


def _rebuild(connection: Connection, household_ids: Collection[int] | None) -> None:
    t = HouseholdVisitMonth.__table__
    rows = household_month_rows(household_ids).subquery("r")
    # In month order, as ingest appends them: a month's rows stay together on disk.
    source = select(
        *[rows.c[name] for name in _ROW_COLUMNS],
        literal(utcnow(), type_=t.c.updated_at.type).label("updated_at"),
    ).order_by(rows.c.month, rows.c.village_id, rows.c.household_id)
    wipe = delete(t)
    if household_ids is None:
        connection.execute(delete(RegionVisitMonth.__table__))
    else:
        if connection.dialect.name == "postgresql":
            # FOR UPDATE conflicts with the key-share lock an ingesting visit holds on its
            # household (foreign key check): wait for those visits, and hold off new ones.
            connection.execute(
                select(Household.id)
                .where(Household.id.in_(household_ids))
                .order_by(Household.id)
                .with_for_update()
            )
        # The region sums lose these households' rows as they are, and gain them as rebuilt
        # (possibly under another region or category).
        _add_region_sums(connection, household_ids, sign=-1)
        wipe = wipe.where(t.c.household_id.in_(household_ids))
    connection.execute(wipe)
    connection.execute(t.insert().from_select([*_ROW_COLUMNS, "updated_at"], source))
    if household_ids is None:
        connection.execute(
            RegionVisitMonth.__table__.insert().from_select(_SUM_COLUMNS, _region_sums(None, 1))
        )
    else:
        _add_region_sums(connection, household_ids, sign=1)


_SUM_COLUMNS = (
    "region_id",
    "month",
    "category",
    "households_counted",
    "households_any",
    "counted_visits",
    "pending_visits",
    "flagged_visits",
    "invalid_visits",
    "other_visits",
)


def _region_sums(household_ids: Collection[int] | None, sign: int):
    """SELECT of the roll-up rows (of ``household_ids``) summed per region, month, category."""
    h = HouseholdVisitMonth.__table__

    def total(expression):
        return (sign * func.sum(expression)).label(None)

    query = select(
        h.c.region_id,
        h.c.month,
        h.c.category,
        total(case((h.c.counted_visits > 0, 1), else_=0)),
        total(case((h.c.counted_visits + h.c.pending_visits > 0, 1), else_=0)),
        total(h.c.counted_visits),
        total(h.c.pending_visits),
        total(h.c.flagged_visits),
        total(h.c.invalid_visits),
        total(h.c.other_visits),
    ).group_by(h.c.region_id, h.c.month, h.c.category)
    if household_ids is not None:
        query = query.where(h.c.household_id.in_(household_ids))
    return query


def rebuild_region_sums() -> None:
    """Recompute every region sum from the household rows (after loading those in bulk)."""
    connection = db.session.connection()
    connection.execute(delete(RegionVisitMonth.__table__))
    connection.execute(
        RegionVisitMonth.__table__.insert().from_select(_SUM_COLUMNS, _region_sums(None, 1))
    )


def region_sums_from_rows():
    """SELECT of the region sums as they should be, from the household rows (for checks)."""
    return _region_sums(None, 1)


def _add_region_sums(connection: Connection, household_ids: Collection[int], sign: int) -> None:
    r = RegionVisitMonth.__table__
    insert = _insert_for(connection.dialect.name)(r).from_select(
        _SUM_COLUMNS, _region_sums(household_ids, sign)
    )
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["region_id", "month", "category"],
            set_={name: r.c[name] + insert.excluded[name] for name in _SUM_COLUMNS[3:]},
        )
    )


def rebuild_household_months(*, household_ids: Iterable[int] | None = None) -> None:
    """Recompute the roll-up rows of ``household_ids`` (all households when None) from visits."""
    connection = db.session.connection()
    if household_ids is None:
        _rebuild(connection, None)
        return
    ids = sorted(set(household_ids))
    for start in range(0, len(ids), _CHUNK):
        _rebuild(connection, ids[start : start + _CHUNK])


# ----- keeping rows right when earlier visits change how they count ------------------------


@event.listens_for(Session, "before_flush")
def _collect_changes(session: Session, _flush_context, _instances) -> None:
    pending: list = session.info.setdefault(_PENDING_KEY, [])
    for obj in session.dirty:
        if isinstance(obj, Visit):
            if inspect(obj).attrs.review_status.history.has_changes():
                pending.append(obj)
        elif isinstance(obj, Household):
            state = inspect(obj).attrs
            if any(state[name].history.has_changes() for name in _HOUSEHOLD_COPIES):
                pending.append(obj.id)
        elif isinstance(obj, Assignment) and session.is_modified(obj):
            pending.append(obj)
            old = inspect(obj).attrs.household_id.history.deleted
            pending.extend(int(i) for i in old if i is not None)
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, Assignment):
            pending.append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _apply_changes(session: Session, _flush_context) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    ids = {item if isinstance(item, int) else item.household_id for item in pending}
    ids.discard(None)
    if not ids:
        return
    connection = session.connection()
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        # Households without visits have no rows to fix (a roster import assigns thousands).
        with_visits = connection.scalars(
            select(Visit.household_id).where(Visit.household_id.in_(chunk)).distinct()
        ).all()
        if with_visits:
            _rebuild(connection, sorted(with_visits))


__all__ = [
    "COUNTED",
    "INVALID",
    "OTHER",
    "PENDING",
    "assigned_at_visit",
    "assigned_on",
    "china_date",
    "china_month",
    "household_month_rows",
    "kind_sql",
    "month_of",
    "rebuild_household_months",
    "rebuild_region_sums",
    "record_visit",
    "record_visits",
    "region_sums_from_rows",
    "visit_kind",
]
