"""户户清 status: is each household "cleared" in a period, and if not, why.

A household is cleared in a period when all three hold (DOMAIN.md):

1. it was visited — a visit that counts for coverage (``services/coverage.py``);
2. its latest survey — the latest such visit in the period — passes every check, or every
   problem it raised is no longer open. A failing check may have opened a problem, reopened a
   closed one, or found one already open (problems are deduplicated by ``check:<key>``), so
   the problems looked at are the household's problems whose ``dedup_key`` is ``check:<key>``
   for a check that visit failed, plus any problem whose ``source_visit_id`` is that visit;
3. no villager's report of its own (``source = villager_report``) is open.

Everything is judged as of the period's end (or now, while the period runs): a problem counts as
open then if it was opened by that moment and had not been finished (closed, rejected, merged)
by it. A problem reopened later and closed in between is taken as open throughout — the table
keeps no per-state history, only ``closed_at``.

All of it is one set-based query per request, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    HouseholdVisitMonth,
    Problem,
    ProblemSource,
    ProblemStatus,
    Region,
    Role,
    VisitCheck,
    utcnow,
)
from backend.services import coverage
from backend.services.authz import Actor, load_household_for, require_authenticated
from backend.services.clock import china_today
from backend.services.periods import Period, last_months

NOT_VISITED = "not_visited"
FAILING_CHECKS_OPEN = "failing_checks_open"
OPEN_REPORTS = "open_reports"
REASONS = (NOT_VISITED, FAILING_CHECKS_OPEN, OPEN_REPORTS)
REASON_LABELS = {
    NOT_VISITED: "本期未走访",
    FAILING_CHECKS_OPEN: "最近一次走访发现的问题尚未销号",
    OPEN_REPORTS: "农户反映的问题尚未办结",
}
STATUS_LABELS = {True: "已清", False: "未清"}
MAX_TREND_MONTHS = 36
# Who reads status lists: the coverage roles, and helpers for their own households.
STATUS_ROLES = coverage.COVERAGE_ROLES | {Role.HELPER}


def open_at(problem, moment: datetime):
    """SQL: ``problem`` (the class or an alias) was open at ``moment``."""
    finished_at = func.coalesce(problem.closed_at, problem.updated_at)
    return and_(
        problem.opened_at <= moment,
        or_(problem.status.not_in(ProblemStatus.FINISHED), finished_at > moment),
    )


def latest_visits(
    *,
    period: Period,
    scope: coverage.Scope,
    category: str | None,
    reference_day,
    pending_counts: bool,
    source=None,
):
    """Subquery: each household's latest visit that counts in the period (visit_id, at)."""
    if coverage.use_rollup(period, source):
        r = HouseholdVisitMonth.__table__
        in_scope = [r.c.month.in_(period.months), scope.rollup_rows(r.c, reference_day)]
        if category:
            in_scope.append(r.c.category == category)
        if len(period.months) == 1:
            # One row per household: its latest counted visit, or its latest pending one if
            # those count and it is later.
            if not pending_counts:
                return (
                    select(
                        r.c.household_id,
                        r.c.last_counted_visit_id.label("visit_id"),
                        r.c.last_counted_at.label("at"),
                    )
                    .where(*in_scope, r.c.last_counted_visit_id.is_not(None))
                    .subquery("latest")
                )
            pending_later = or_(
                r.c.last_counted_at.is_(None),
                r.c.last_pending_at > r.c.last_counted_at,
                and_(
                    r.c.last_pending_at == r.c.last_counted_at,
                    r.c.last_pending_visit_id > r.c.last_counted_visit_id,
                ),
            )
            use_pending = and_(r.c.last_pending_visit_id.is_not(None), pending_later)
            return (
                select(
                    r.c.household_id,
                    case(
                        (use_pending, r.c.last_pending_visit_id), else_=r.c.last_counted_visit_id
                    ).label("visit_id"),
                    case((use_pending, r.c.last_pending_at), else_=r.c.last_counted_at).label("at"),
                )
                .where(
                    *in_scope,
                    or_(
                        r.c.last_counted_visit_id.is_not(None),
                        r.c.last_pending_visit_id.is_not(None),
                    ),
                )
                .subquery("latest")
            )
        parts = [
            select(
                r.c.household_id,
                r.c.last_counted_visit_id.label("visit_id"),
                r.c.last_counted_at.label("at"),
            ).where(*in_scope, r.c.last_counted_visit_id.is_not(None))
        ]
        if pending_counts:
            parts.append(
                select(
                    r.c.household_id,
                    r.c.last_pending_visit_id.label("visit_id"),
                    r.c.last_pending_at.label("at"),
                ).where(*in_scope, r.c.last_pending_visit_id.is_not(None))
            )
        candidates = union_all(*parts).subquery("cand")
    else:
        household_ids = coverage.scoped_household_ids(scope, category, reference_day)
        c = coverage.classified_visits(period=period, household_ids=household_ids)
        counting = (coverage.COUNTED, coverage.PENDING) if pending_counts else (coverage.COUNTED,)
        candidates = (
            select(c.c.household_id, c.c.id.label("visit_id"), c.c.ended_at.label("at"))
            .where(c.c.kind.in_(counting))
            .subquery("cand")
        )
    rn = (
        func.row_number()
        .over(
            partition_by=candidates.c.household_id,
            order_by=(candidates.c.at.desc(), candidates.c.visit_id.desc()),
        )
        .label("rn")
    )
    ranked = select(candidates, rn).subquery("ranked")
    return (
        select(ranked.c.household_id, ranked.c.visit_id, ranked.c.at)
        .where(ranked.c.rn == 1)
        .subquery("latest")
    )


def _raised_by(problem, visit_id):
    """SQL: ``problem`` was raised (or found open) by the failing checks of ``visit_id``."""
    vc = VisitCheck
    # Correlated to whatever encloses it (the problem, and the visit two levels up).
    return or_(
        problem.source_visit_id == visit_id,
        exists()
        .where(
            vc.visit_id == visit_id,
            vc.passed.is_(False),
            problem.dedup_key == literal("check:") + vc.check_key,
        )
        .correlate_except(vc),
    )


def status_query(
    *,
    period: Period,
    scope: coverage.Scope,
    category: str | None,
    pending_counts: bool,
    as_of: datetime,
    reference_day,
    source=None,
    grouped: bool | None = None,
):
    """SELECT of every household of the scope with its status columns (set-based).

    Two shapes of the same query: for a town or more (``grouped``), the open problems are
    counted per household in two grouped joins; for a village, a group, a helper's or one
    household, by correlated subqueries (an index lookup per household, exact plans).
    """
    if grouped is None:
        grouped = scope.village_ids is not None
    latest = latest_visits(
        period=period,
        scope=scope,
        category=category,
        reference_day=reference_day,
        pending_counts=pending_counts,
        source=source,
    )
    h = Household
    ra = aliased(Assignment)
    p = aliased(Problem)
    q = aliased(Problem)
    if grouped:
        checks = (
            select(p.household_id, func.count().label("n"))
            .join(latest, latest.c.household_id == p.household_id)
            .where(open_at(p, as_of), _raised_by(p, latest.c.visit_id))
            .group_by(p.household_id)
            .subquery("open_checks")
        )
        reports = (
            select(q.household_id, func.count().label("n"))
            .join(h, h.id == q.household_id)
            .where(
                q.source == ProblemSource.VILLAGER_REPORT,
                open_at(q, as_of),
                scope.households(reference_day),
            )
            .group_by(q.household_id)
            .subquery("open_reports")
        )
        open_checks = func.coalesce(checks.c.n, 0)
        open_reports = func.coalesce(reports.c.n, 0)
    else:
        open_checks = (
            select(func.count())
            .where(p.household_id == h.id, open_at(p, as_of), _raised_by(p, latest.c.visit_id))
            .scalar_subquery()
        )
        open_reports = (
            select(func.count())
            .where(
                q.household_id == h.id,
                q.source == ProblemSource.VILLAGER_REPORT,
                open_at(q, as_of),
            )
            .scalar_subquery()
        )
    inner = (
        select(
            h.id,
            h.number,
            h.head_name,
            h.village_id,
            h.region_id,
            h.region_path,
            ra.helper_id,
            latest.c.visit_id,
            latest.c.at.label("visit_at"),
            open_checks.label("open_checks"),
            open_reports.label("open_reports"),
        )
        .select_from(h)
        .outerjoin(latest, latest.c.household_id == h.id)
        .outerjoin(ra, and_(ra.household_id == h.id, coverage.active_on(ra, reference_day)))
        .where(scope.households(reference_day))
    )
    if grouped:
        inner = inner.outerjoin(checks, checks.c.household_id == h.id).outerjoin(
            reports, reports.c.household_id == h.id
        )
    if category:
        inner = inner.where(h.category == category)
    # OFFSET 0 keeps PostgreSQL from inlining the subquery, which would evaluate each
    # correlated count again wherever "cleared" and the filters use it.
    inner = inner.offset(0).subquery("status_inner")
    visited = inner.c.visit_id.is_not(None)
    cleared = and_(visited, inner.c.open_checks == 0, inner.c.open_reports == 0)
    return select(
        inner,
        case((visited, 1), else_=0).label("visited"),
        case((cleared, 1), else_=0).label("cleared"),
    ).subquery("status")


def _context(actor: Actor, period: Period, region_id, helper_id, category):
    require_authenticated(actor)
    category = coverage.check_category(category)
    reference_day = period.reference_day(china_today())
    scope = coverage.resolve_scope(
        actor=actor, region_id=region_id, helper_id=helper_id, reference_day=reference_day
    )
    return scope, category, reference_day


def list_household_status(
    *,
    actor: Actor,
    period: Period,
    region_id: int | None = None,
    helper_id: int | None = None,
    category: str | None = None,
    status: str | None = None,
    reason: str | None = None,
    page: int = 1,
    page_size: int = 50,
    source: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The households of a scope with their 户户清 status, filtered by status and reason."""
    scope, category, reference_day = _context(actor, period, region_id, helper_id, category)
    pending_counts = coverage.count_pending()
    s = status_query(
        period=period,
        scope=scope,
        category=category,
        pending_counts=pending_counts,
        as_of=period.as_of(utcnow()),
        reference_day=reference_day,
        source=source,
    )
    query = select(s)
    if status == "cleared":
        query = query.where(s.c.cleared == 1)
    elif status == "not_cleared":
        query = query.where(s.c.cleared == 0)
    if reason == NOT_VISITED:
        query = query.where(s.c.visited == 0)
    elif reason == FAILING_CHECKS_OPEN:
        query = query.where(s.c.open_checks > 0)
    elif reason == OPEN_REPORTS:
        query = query.where(s.c.open_reports > 0)
    # The total rides along with the page: one pass over the scope instead of two.
    rows = db.session.execute(
        query.add_columns(func.count().over().label("total"))
        .order_by(s.c.region_path, s.c.number, s.c.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    if rows:
        total = rows[0].total
    else:
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    return _items(rows, period=period, as_of=period.as_of(utcnow())), total


def get_household_status(*, actor: Actor, household_id: int, period: Period) -> dict[str, Any]:
    """One household's 户户清 status in a period, with its reasons."""
    household = load_household_for(actor, household_id)
    reference_day = period.reference_day(china_today())
    scope = coverage.Scope(kind="household", household_id=household.id)
    s = status_query(
        period=period,
        scope=scope,
        category=None,
        pending_counts=coverage.count_pending(),
        as_of=period.as_of(utcnow()),
        reference_day=reference_day,
    )
    row = db.session.execute(select(s)).one()
    item = _items([row], period=period, as_of=period.as_of(utcnow()))[0]
    return {"period": period.to_dict(), **item}


def _items(rows, *, period: Period, as_of: datetime) -> list[dict[str, Any]]:
    """API entries for status rows, with the problems behind each reason."""
    if not rows:
        return []
    base = {item["household_id"]: item for item in coverage.household_rows(rows, period=period)}
    ids = [row.id for row in rows]
    check_details, report_details = _reason_details(rows, ids, as_of)
    items = []
    for row in rows:
        reasons = []
        if not row.visited:
            reasons.append({"code": NOT_VISITED, "label": REASON_LABELS[NOT_VISITED]})
        if row.open_checks:
            found = check_details.get(row.id, [])
            reasons.append(
                {
                    "code": FAILING_CHECKS_OPEN,
                    "label": REASON_LABELS[FAILING_CHECKS_OPEN],
                    "visit_id": row.visit_id,
                    "check_keys": sorted({k for _, k in found if k}),
                    "problem_ids": sorted(pid for pid, _ in found),
                }
            )
        if row.open_reports:
            reasons.append(
                {
                    "code": OPEN_REPORTS,
                    "label": REASON_LABELS[OPEN_REPORTS],
                    "problem_ids": sorted(report_details.get(row.id, [])),
                }
            )
        items.append(
            {
                **base[row.id],
                "cleared": bool(row.cleared),
                "status_label": STATUS_LABELS[bool(row.cleared)],
                "latest_visit": (
                    {"id": row.visit_id, "ended_at": row.visit_at} if row.visit_id else None
                ),
                "reasons": reasons,
            }
        )
    return items


def _reason_details(rows, ids: list[int], as_of: datetime):
    """The open problems behind the reasons of a page of households."""
    p = aliased(Problem)
    check_details: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    visit_of = {row.id: row.visit_id for row in rows if row.visit_id}
    if visit_of:
        vc = VisitCheck
        failing = (
            select(vc.visit_id, vc.check_key)
            .where(vc.visit_id.in_(list(visit_of.values())), vc.passed.is_(False))
            .subquery("failing")
        )
        found = db.session.execute(
            select(p.household_id, p.id, p.check_key, p.source_visit_id, p.dedup_key)
            .where(p.household_id.in_(list(visit_of)), open_at(p, as_of))
            .where(
                or_(
                    p.source_visit_id.in_(list(visit_of.values())),
                    p.dedup_key.in_(select(literal("check:") + failing.c.check_key)),
                )
            )
        ).all()
        failing_keys: dict[int, set[str]] = defaultdict(set)
        for visit_id, key in db.session.execute(select(failing)).all():
            failing_keys[visit_id].add(f"check:{key}")
        for household_id, problem_id, check_key, source_visit_id, dedup_key in found:
            visit_id = visit_of[household_id]
            if source_visit_id == visit_id or dedup_key in failing_keys[visit_id]:
                check_details[household_id].append((problem_id, check_key))
    report_details: dict[int, list[int]] = defaultdict(list)
    for household_id, problem_id in db.session.execute(
        select(p.household_id, p.id).where(
            p.household_id.in_(ids),
            p.source == ProblemSource.VILLAGER_REPORT,
            open_at(p, as_of),
        )
    ).all():
        report_details[household_id].append(problem_id)
    return check_details, report_details


# ----- roll-ups and trend ---------------------------------------------------------------


def status_rollup(
    *,
    actor: Actor,
    period: Period,
    by: str = "village",
    region_id: int | None = None,
    category: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Cleared households per village or per group of the scope, with reason counts."""
    if by not in ("village", "group"):
        raise DomainError(
            "coverage.scope_invalid",
            "汇总方式应为 village 或 group。",
            fields={"query": {"by": ["汇总方式应为 village 或 group。"]}},
        )
    scope, category, reference_day = _context(actor, period, region_id, None, category)
    s = status_query(
        period=period,
        scope=scope,
        category=category,
        pending_counts=coverage.count_pending(),
        as_of=period.as_of(utcnow()),
        reference_day=reference_day,
        source=source,
    )
    key = s.c.village_id if by == "village" else s.c.region_id
    rows = db.session.execute(select(key.label("region_id"), *_status_sums(s)).group_by(key)).all()
    regions = {
        r.id: r
        for r in db.session.scalars(
            select(Region).where(Region.id.in_([r.region_id for r in rows]))
        )
    }
    out = []
    total = dict.fromkeys(("households", "visited", "cleared", *REASONS), 0)
    for row in rows:
        region = regions[row.region_id]
        figures = _status_figures(row)
        for name in total:
            total[name] += figures[name] if name in figures else figures["reasons"][name]
        label = region.name
        if by == "group" and region.level == "village":
            label = f"{region.name}（未分组）"
        out.append(
            {
                "key": region.code,
                "label": label,
                "region_id": region.id,
                "level": region.level,
                **figures,
            }
        )
    out.sort(key=lambda r: r["key"])
    return {
        "period": period.to_dict(),
        "by": by,
        "scope": scope.to_dict(),
        "rows": out,
        "total": {
            "key": "total",
            "label": "合计",
            **_status_figures_from(total),
        },
    }


def _status_sums(s):
    return (
        func.count().label("households"),
        func.sum(s.c.visited).label("visited"),
        func.sum(s.c.cleared).label("cleared"),
        func.sum(case((s.c.visited == 0, 1), else_=0)).label(NOT_VISITED),
        func.sum(case((s.c.open_checks > 0, 1), else_=0)).label(FAILING_CHECKS_OPEN),
        func.sum(case((s.c.open_reports > 0, 1), else_=0)).label(OPEN_REPORTS),
    )


def _status_figures(row) -> dict[str, Any]:
    m = row._mapping
    return _status_figures_from({name: int(m[name] or 0) for name in m if name != "region_id"})


def _status_figures_from(values: dict[str, int]) -> dict[str, Any]:
    households, cleared = values["households"], values["cleared"]
    return {
        "households": households,
        "visited": values["visited"],
        "cleared": cleared,
        "not_cleared": households - cleared,
        "cleared_pct": coverage.pct(cleared, households),
        "coverage_pct": coverage.pct(values["visited"], households),
        "reasons": {name: values[name] for name in REASONS},
    }


def status_trend(
    *,
    actor: Actor,
    months: int = 12,
    region_id: int | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """Coverage and cleared share month by month, for the last ``months`` months."""
    if not 1 <= months <= MAX_TREND_MONTHS:
        message = f"月数应在 1 到 {MAX_TREND_MONTHS} 之间。"
        raise DomainError("period.invalid", message, fields={"query": {"months": [message]}})
    today = china_today()
    periods = last_months(count=months, until=today)
    scope, category, _ = _context(actor, periods[-1], region_id, None, category)
    pending_counts = coverage.count_pending()
    now = utcnow()
    points = []
    for period in periods:
        s = status_query(
            period=period,
            scope=scope,
            category=category,
            pending_counts=pending_counts,
            as_of=period.as_of(now),
            reference_day=period.reference_day(today),
        )
        row = db.session.execute(select(literal(0).label("region_id"), *_status_sums(s))).one()
        points.append({"period": period.to_dict(), **_status_figures(row)})
    return {"scope": scope.to_dict(), "months": points}
