"""Visit coverage: the share of households visited in a period by their assigned helper.

A household counts as visited when, in the period, the helper assigned to it *on the day of
the visit* made a visit that counts (``services/rollups.py`` classifies visits: invalid visits
never count, flagged visits not yet reviewed count when COVERAGE_COUNT_UNREVIEWED_FLAGGED).

Whole-month periods (a month, a quarter, a range of whole months) read the maintained roll-up
``household_visit_months``; other date ranges are computed from the visits directly. Both are
the same set-based SQL over the same classification, and tests hold them equal.

The per-helper table attributes each household to the helper responsible for it on the
period's reference day (its last day, or today while it runs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    HouseholdVisitMonth,
    Region,
    RegionVisitMonth,
    ReviewStatus,
    Role,
    RoleGrant,
    User,
    Visit,
)
from backend.models.household import CATEGORY_LABELS, HouseholdCategory
from backend.models.region import LEVEL_LABELS, RegionLevel
from backend.services import pii
from backend.services.authz import Actor, require_authenticated
from backend.services.clock import china_today
from backend.services.periods import Period
from backend.services.rollups import COUNTED, INVALID, OTHER, PENDING, assigned_at_visit, kind_sql

# Roles that read coverage over their region. Helpers read their own households only.
COVERAGE_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT, Role.VILLAGE_CADRE})
SCOPES = ("district", "town", "village", "group", "helper")
# Secretaries are cadres or town admins flagged as party secretaries (二级书记遍访贫困户).
SECRETARY_ROLES = (Role.TOWN_ADMIN, Role.VILLAGE_CADRE)
SECRETARY_TITLES = {Role.TOWN_ADMIN: "镇党委书记", Role.VILLAGE_CADRE: "村党组织书记"}
HELPERS_LIMIT = 1000
NO_HELPER_LABEL = "未分配帮扶责任人"


@dataclass(frozen=True)
class Scope:
    """The households a figure is about: a region subtree, or one helper's households."""

    kind: str
    region: Region | None = None
    helper: User | None = None
    household_id: int | None = None  # one household, already authorised (its status page)
    # The villages of a district or town, looked up once: a literal list gives the planner
    # exact estimates.
    village_ids: tuple[int, ...] | None = None
    # All regions of a district or town (villages and groups), for the same reason.
    region_ids: tuple[int, ...] | None = None
    # Those regions as plain rows (id, code, name, level, path), read once per request.
    subtree: tuple | None = None

    def households(self, reference_day: date) -> ColumnElement[bool]:
        """WHERE clause on ``Household`` selecting the scope's households."""
        return self._clause(Household.id, Household.region_id, Household.village_id, reference_day)

    def rollup_rows(self, rows, reference_day: date) -> ColumnElement[bool]:
        """The same clause on roll-up rows (which carry the household's region and village)."""
        return self._clause(rows.household_id, rows.region_id, rows.village_id, reference_day)

    def _clause(self, household_id, region_id, village_id, reference_day: date):
        # Villages and groups, not path prefixes: indexed equality on PostgreSQL and SQLite.
        if self.household_id is not None:
            return household_id == self.household_id
        if self.region is not None:
            if self.region.level == RegionLevel.GROUP:
                return region_id == self.region.id
            if self.region.level == RegionLevel.VILLAGE:
                return village_id == self.region.id
            if self.village_ids is not None:
                return village_id.in_(self.village_ids)
            return village_id.in_(villages_under(self.region))
        assert self.helper is not None
        return household_id.in_(
            select(Assignment.household_id).where(
                Assignment.helper_id == self.helper.id, active_on(Assignment, reference_day)
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """The scope as the API shows it."""
        body: dict[str, Any] = {"kind": self.kind, "region": None, "helper": None}
        if self.region is not None:
            body["region"] = region_view(self.region)
        if self.helper is not None:
            body["helper"] = {"id": self.helper.id, "display_name": self.helper.display_name}
        return body


def villages_under(region: Region):
    """SELECT of the ids of the villages in ``region``'s subtree."""
    return select(Region.id).where(
        Region.level == RegionLevel.VILLAGE.value,
        Region.path.startswith(region.path, autoescape=True),
    )


def region_view(region: Region | None) -> dict[str, Any] | None:
    """A region as lists show it."""
    if region is None:
        return None
    return {"id": region.id, "code": region.code, "name": region.name, "level": region.level}


def active_on(assignment, day: date) -> ColumnElement[bool]:
    """SQL: ``assignment`` (the class or an alias) is in force on ``day``."""
    return and_(
        assignment.start_date <= day,
        or_(assignment.end_date.is_(None), assignment.end_date >= day),
    )


def pct(part: int, whole: int) -> float | None:
    """A percentage with one decimal, or None for an empty whole."""
    return round(100.0 * part / whole, 1) if whole else None


def count_pending() -> bool:
    """Whether flagged visits nobody has reviewed yet count (a setting)."""
    return bool(current_app.config["COVERAGE_COUNT_UNREVIEWED_FLAGGED"])


# ----- who may see what ---------------------------------------------------------------------


def _forbidden() -> DomainError:
    return DomainError("auth.forbidden", "您无权查看该范围的统计。")


def _scope_invalid(field: str, message: str) -> DomainError:
    return DomainError("coverage.scope_invalid", message, fields={"query": {field: [message]}})


def resolve_scope(
    *,
    actor: Actor,
    scope: str | None = None,
    region_id: int | None = None,
    helper_id: int | None = None,
    reference_day: date | None = None,
) -> Scope:
    """Check the requested scope against the actor's grants: unknown → 404, outside → 403."""
    require_authenticated(actor)
    if scope is not None and scope not in SCOPES:
        raise _scope_invalid("scope", "统计范围应为 town、village、group 或 helper。")
    if scope == "helper" or (scope is None and helper_id is not None and region_id is None):
        if region_id is not None:
            raise _scope_invalid("region_id", "按帮扶责任人统计时不能同时指定地区。")
        return _helper_scope(actor, helper_id)
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None:
            raise DomainError("region.not_found")
        if not actor.covers_path(region.path, COVERAGE_ROLES):
            raise _forbidden()
    else:
        paths = sorted(actor.paths_for(COVERAGE_ROLES), key=len)
        if not paths:
            if actor.has_role(Role.HELPER):
                return _helper_scope(actor, actor.user_id)
            raise _forbidden()
        region = db.session.scalar(select(Region).where(Region.path == paths[0]))
        if region is None:  # a grant always names a region; defensive
            raise _forbidden()
    if scope is not None and scope != region.level:
        raise _scope_invalid(
            "region_id" if region_id is not None else "scope",
            f"所选地区是{LEVEL_LABELS.get(RegionLevel(region.level), region.level)}，"
            f"与统计范围 {scope} 不符，请同时指定对应的 region_id。",
        )
    r = Region.__table__
    below = tuple(
        db.session.execute(
            select(r.c.id, r.c.code, r.c.name, r.c.level, r.c.path).where(
                r.c.path.startswith(region.path, autoescape=True)
            )
        ).all()
    )
    region_ids = tuple(row.id for row in below)
    village_ids = None
    if region.level not in (RegionLevel.VILLAGE, RegionLevel.GROUP):
        village_ids = tuple(row.id for row in below if row.level == RegionLevel.VILLAGE)
    return Scope(
        kind=region.level,
        region=region,
        village_ids=village_ids,
        region_ids=region_ids,
        subtree=below,
    )


def _helper_scope(actor: Actor, helper_id: int | None) -> Scope:
    if helper_id is None:
        raise _scope_invalid("helper_id", "按帮扶责任人统计时须指定 helper_id。")
    helper = db.session.get(User, helper_id)
    if helper is None or not any(g.role == Role.HELPER for g in helper.grants):
        raise DomainError("coverage.helper_not_found")
    if helper.id == actor.user_id:
        return Scope(kind="helper", helper=helper)
    if not any(
        actor.covers_path(g.region.path, COVERAGE_ROLES)
        for g in helper.grants
        if g.role == Role.HELPER
    ):
        raise _forbidden()
    return Scope(kind="helper", helper=helper)


def check_category(category: str | None) -> str | None:
    """Validate the household-category filter."""
    if category is None or category == "":
        return None
    try:
        return HouseholdCategory(category).value
    except ValueError:
        message = "户类别应为以下之一：" + "、".join(c.value for c in HouseholdCategory)
        raise DomainError(
            "coverage.scope_invalid", message, fields={"query": {"category": [message]}}
        ) from None


# ----- the set-based building blocks ------------------------------------------------------


def use_rollup(period: Period, source: str | None) -> bool:
    """True when the period is read from the roll-up (whole months), unless forced."""
    if source == "direct":
        return False
    if source == "rollup":
        if period.months is None:
            raise ValueError("the roll-up only answers whole months")
        return True
    return period.months is not None


def classified_visits(*, period: Period, household_ids):
    """Subquery: the period's visits of ``household_ids`` with ``assigned`` and ``kind``."""
    v = Visit.__table__
    base = (
        select(
            v.c.id,
            v.c.household_id,
            v.c.helper_id,
            v.c.ended_at,
            v.c.flag_count,
            v.c.review_status,
            case((assigned_at_visit(v.c), 1), else_=0).label("assigned"),
        )
        .where(
            v.c.ended_at >= period.start_utc,
            v.c.ended_at < period.end_utc,
            v.c.household_id.in_(household_ids),
        )
        .subquery("b")
    )
    kind = kind_sql(
        assigned=base.c.assigned, review_status=base.c.review_status, flag_count=base.c.flag_count
    )
    return select(base, kind.label("kind")).subquery("cv")


def scoped_household_ids(scope: Scope, category: str | None, reference_day: date):
    """SELECT of the ids of the scope's households (of one category, if given)."""
    query = select(Household.id).where(scope.households(reference_day))
    if category:
        query = query.where(Household.category == category)
    return query


def household_facts(
    *,
    period: Period,
    scope: Scope,
    category: str | None,
    reference_day: date,
    pending_counts: bool,
    source: str | None = None,
):
    """Subquery: per household of the scope with visits in the period, its figures.

    Columns: household_id, visited (0/1), counted_visits, flagged_visits, invalid_visits,
    other_visits.
    """
    if use_rollup(period, source):
        r = HouseholdVisitMonth.__table__
        counted = r.c.counted_visits + r.c.pending_visits if pending_counts else r.c.counted_visits
        where = [r.c.month.in_(period.months), scope.rollup_rows(r.c, reference_day)]
        if category:
            where.append(r.c.category == category)
        if len(period.months) == 1:
            # One row per household and month (the primary key): nothing to add up.
            return (
                select(
                    r.c.household_id,
                    case((counted > 0, 1), else_=0).label("visited"),
                    counted.label("counted_visits"),
                    r.c.flagged_visits,
                    r.c.invalid_visits,
                    r.c.other_visits,
                )
                .where(*where)
                .subquery("facts")
            )
        return (
            select(
                r.c.household_id,
                func.max(case((counted > 0, 1), else_=0)).label("visited"),
                func.sum(counted).label("counted_visits"),
                func.sum(r.c.flagged_visits).label("flagged_visits"),
                func.sum(r.c.invalid_visits).label("invalid_visits"),
                func.sum(r.c.other_visits).label("other_visits"),
            )
            .where(*where)
            .group_by(r.c.household_id)
            .subquery("facts")
        )
    c = classified_visits(
        period=period, household_ids=scoped_household_ids(scope, category, reference_day)
    )
    counting = (COUNTED, PENDING) if pending_counts else (COUNTED,)

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    return (
        select(
            c.c.household_id,
            func.max(case((c.c.kind.in_(counting), 1), else_=0)).label("visited"),
            count(c.c.kind.in_(counting)).label("counted_visits"),
            count(and_(c.c.assigned == 1, c.c.flag_count > 0)).label("flagged_visits"),
            count(c.c.kind == INVALID).label("invalid_visits"),
            count(c.c.kind == OTHER).label("other_visits"),
        )
        .group_by(c.c.household_id)
        .subquery("facts")
    )


# ----- the coverage view ----------------------------------------------------------------


def get_coverage(
    *,
    actor: Actor,
    period: Period,
    scope: str | None = None,
    region_id: int | None = None,
    helper_id: int | None = None,
    category: str | None = None,
    not_visited_page: int = 1,
    not_visited_page_size: int = 50,
    source: str | None = None,
) -> dict[str, Any]:
    """Coverage of a scope in a period: rows per child region, helpers, the not-visited list.

    Above a town (a district), the rows are its towns and the two household-level lists
    (helpers, households not visited) are left out: they run to tens of thousands of lines and
    would cost a pass over every household of the county; drill down to a town for them.
    """
    category = check_category(category)
    reference_day = period.reference_day(china_today())
    resolved = resolve_scope(
        actor=actor,
        scope=scope,
        region_id=region_id,
        helper_id=helper_id,
        reference_day=reference_day,
    )
    pending_counts = count_pending()
    facts = household_facts(
        period=period,
        scope=resolved,
        category=category,
        reference_day=reference_day,
        pending_counts=pending_counts,
        source=source,
    )
    groups = _region_figures(resolved, category, reference_day, period, pending_counts, source)
    rows = _rows(resolved, groups)
    total = _sum_figures(groups)
    lists = resolved.region is None or resolved.region.level != RegionLevel.DISTRICT
    not_visited: list[dict[str, Any]] = []
    helpers: list[dict[str, Any]] = []
    if lists:
        not_visited = _not_visited(
            resolved,
            category,
            reference_day,
            facts,
            period,
            page=not_visited_page,
            page_size=not_visited_page_size,
        )
        helpers = _helpers(resolved, category, reference_day, facts)
    return {
        "period": period.to_dict(),
        "scope": resolved.kind,
        "scope_detail": resolved.to_dict(),
        "category": category,
        "category_label": CATEGORY_LABELS[HouseholdCategory(category)] if category else None,
        "counts_unreviewed_flagged": pending_counts,
        "source": "rollup" if use_rollup(period, source) else "visits",
        "rows": rows,
        "total": {"key": "total", "label": "合计", **_figures_view(total)},
        "visits_by_role": [
            {
                "role": "assigned_helper",
                "label": "帮扶责任人走访本户",
                "visits": total["counted_visits"],
            },
            {"role": "other_staff", "label": "其他干部走访", "visits": total["other_visits"]},
        ],
        "lists_included": lists,
        "not_visited": not_visited,
        "not_visited_total": total["households"] - total["visited"],
        "not_visited_page": not_visited_page,
        "not_visited_page_size": not_visited_page_size,
        "helpers": helpers[:HELPERS_LIMIT],
        "helpers_total": len(helpers) if lists else None,
        "secretaries": (
            secretary_coverage(
                resolved,
                period,
                pending_counts,
                reference_day,
                None if category else {g["region_id"]: g["poor"] for g in groups},
            )
            if resolved.region is not None
            else None
        ),
    }


_FIGURES = ("households", "visited", "counted_visits", "flagged", "invalid", "other_visits")


def _region_figures(
    scope: Scope, category, reference_day: date, period: Period, pending_counts: bool, source
) -> list[dict]:
    """Figures per lowest region (group, or village without groups): households from the
    registry, the rest from the roll-up rows (or the visits), without joining the two."""
    h = Household
    in_scope = scope.households(reference_day)
    poor = func.sum(case((h.category == HouseholdCategory.REGISTERED_POOR.value, 1), else_=0))
    denominators = select(h.region_id, func.count().label("households"), poor.label("poor"))
    denominators = denominators.where(in_scope)
    if category:
        denominators = denominators.where(h.category == category)
    sums: dict[int, dict[str, int]] = {}
    for region_id, households, poor_count in db.session.execute(
        denominators.group_by(h.region_id)
    ).all():
        sums[region_id] = {
            **dict.fromkeys(_FIGURES, 0),
            "households": households,
            "poor": int(poor_count or 0),
        }
    if use_rollup(period, source) and len(period.months) == 1 and scope.region_ids is not None:
        # One month of a region: its region sums, a row per group and category.
        g = RegionVisitMonth.__table__
        counted = g.c.counted_visits + g.c.pending_visits if pending_counts else g.c.counted_visits
        visited = g.c.households_any if pending_counts else g.c.households_counted
        numerators = select(
            g.c.region_id,
            func.sum(visited).label("visited"),
            func.sum(counted).label("counted_visits"),
            func.sum(g.c.flagged_visits).label("flagged"),
            func.sum(g.c.invalid_visits).label("invalid"),
            func.sum(g.c.other_visits).label("other_visits"),
        ).where(g.c.month == period.months[0], g.c.region_id.in_(scope.region_ids))
        if category:
            numerators = numerators.where(g.c.category == category)
        numerators = numerators.group_by(g.c.region_id)
    elif use_rollup(period, source):
        r = HouseholdVisitMonth.__table__
        counted = r.c.counted_visits + r.c.pending_visits if pending_counts else r.c.counted_visits
        if len(period.months) == 1:
            # One row per household: a plain sum, which hashes (no sort for a DISTINCT).
            visited = func.sum(case((counted > 0, 1), else_=0))
        else:
            visited = func.count(func.distinct(case((counted > 0, r.c.household_id))))
        numerators = select(
            r.c.region_id,
            visited.label("visited"),
            func.sum(counted).label("counted_visits"),
            func.sum(r.c.flagged_visits).label("flagged"),
            func.sum(r.c.invalid_visits).label("invalid"),
            func.sum(r.c.other_visits).label("other_visits"),
        ).where(r.c.month.in_(period.months), scope.rollup_rows(r.c, reference_day))
        if category:
            numerators = numerators.where(r.c.category == category)
        numerators = numerators.group_by(r.c.region_id)
    else:
        facts = household_facts(
            period=period,
            scope=scope,
            category=category,
            reference_day=reference_day,
            pending_counts=pending_counts,
            source=source,
        )
        numerators = (
            select(
                h.region_id,
                func.sum(facts.c.visited).label("visited"),
                func.sum(facts.c.counted_visits).label("counted_visits"),
                func.sum(facts.c.flagged_visits).label("flagged"),
                func.sum(facts.c.invalid_visits).label("invalid"),
                func.sum(facts.c.other_visits).label("other_visits"),
            )
            .join(facts, facts.c.household_id == h.id)
            .group_by(h.region_id)
        )
    for row in db.session.execute(numerators).all():
        target = sums.setdefault(row.region_id, {**dict.fromkeys(_FIGURES, 0), "poor": 0})
        for name in _FIGURES[1:]:
            target[name] += int(getattr(row, name) or 0)
    return [{"region_id": region_id, **figures} for region_id, figures in sums.items()]


def _sum_figures(groups: list[dict]) -> dict[str, int]:
    total = dict.fromkeys(_FIGURES, 0)
    for group in groups:
        for name in _FIGURES:
            total[name] += int(group[name] or 0)
    return total


def _figures_view(figures: dict[str, int]) -> dict[str, Any]:
    return {
        "households": figures["households"],
        "visited": figures["visited"],
        "not_visited": figures["households"] - figures["visited"],
        "coverage_pct": pct(figures["visited"], figures["households"]),
        "visits": figures["counted_visits"],
        "flagged_visits": figures["flagged"],
        "invalid_visits": figures["invalid"],
        "other_visits": figures["other_visits"],
    }


def _rows(scope: Scope, groups: list[dict]) -> list[dict[str, Any]]:
    """Sum the groups into one row per child region (per village for a helper)."""
    regions = (
        {row.id: row for row in scope.subtree}
        if scope.subtree is not None
        else _region_rows(scope.region, {g["region_id"] for g in groups})
    )
    by_path = {r.path: r for r in regions.values()}
    # The row of a lowest region: its ancestor one level below the scope's region (the
    # region itself if it is the scope's), or its village for a helper's households.
    depth = len(scope.region.path.strip("/").split("/")) + 1 if scope.region is not None else 3
    sums: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    for group in groups:
        codes = regions[group["region_id"]].path.strip("/").split("/")
        key = by_path["/" + "/".join(codes[:depth]) + "/"].id
        if scope.region is not None and len(codes) < depth:
            key = scope.region.id
        target = sums[key]
        for name in _FIGURES:
            target[name] += int(group[name] or 0)
    rows = []
    for region_id, figures in sums.items():
        region = regions[region_id]
        label = region.name
        if scope.region is not None and region.id == scope.region.id and region.level != "group":
            label = f"{region.name}（未分组）"
        rows.append(
            {
                "key": region.code,
                "label": label,
                "region_id": region.id,
                "level": region.level,
                **_figures_view(figures),
            }
        )
    rows.sort(key=lambda row: row["key"])
    return rows


def _region_rows(parent: Region | None, region_ids: set[int]) -> dict[int, Any]:
    """The regions under ``parent`` (or the given ones with their ancestors), as plain rows."""
    r = Region.__table__
    query = select(r.c.id, r.c.code, r.c.name, r.c.level, r.c.path)
    if parent is not None:
        query = query.where(r.c.path.startswith(parent.path, autoescape=True))
    else:
        paths = db.session.scalars(select(r.c.path).where(r.c.id.in_(region_ids))).all()
        codes = {code for path in paths for code in path.strip("/").split("/")}
        query = query.where(r.c.code.in_(codes))
    return {row.id: row for row in db.session.execute(query)}


def _regions_by_id(ids: set[int]) -> dict[int, Region]:
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(Region).where(Region.id.in_(ids)))}


def _helpers(scope: Scope, category, reference_day: date, facts) -> list[dict[str, Any]]:
    """Per helper responsible on the reference day: their households and how many visited."""
    h = Household
    ra = aliased(Assignment)
    per_helper = (
        select(
            ra.helper_id,
            func.count().label("households"),
            func.coalesce(func.sum(facts.c.visited), 0).label("visited"),
            func.coalesce(func.sum(facts.c.counted_visits), 0).label("visits"),
            func.coalesce(func.sum(facts.c.flagged_visits), 0).label("flagged"),
            func.coalesce(func.sum(facts.c.invalid_visits), 0).label("invalid"),
        )
        .select_from(h)
        .outerjoin(ra, and_(ra.household_id == h.id, active_on(ra, reference_day)))
        .outerjoin(facts, facts.c.household_id == h.id)
        .where(scope.households(reference_day))
        .group_by(ra.helper_id)
    )
    if category:
        per_helper = per_helper.where(h.category == category)
    per_helper = per_helper.subquery("per_helper")
    # Names after the sums: a lookup per helper, not a join per household.
    query = select(per_helper, User.display_name).outerjoin(User, User.id == per_helper.c.helper_id)
    rows = db.session.execute(query).all()
    helpers = []
    for row in rows:
        helpers.append(
            {
                "helper_id": row.helper_id,
                "display_name": row.display_name or NO_HELPER_LABEL,
                "households": row.households,
                "visited": int(row.visited),
                "not_visited": row.households - int(row.visited),
                "coverage_pct": pct(int(row.visited), row.households),
                "visits": int(row.visits),
                "flagged": int(row.flagged),
                "invalid": int(row.invalid),
            }
        )
    # The helpers who need a word first: lowest coverage, then most not-visited.
    helpers.sort(
        key=lambda h: (
            h["coverage_pct"] if h["coverage_pct"] is not None else 101.0,
            -h["not_visited"],
            h["display_name"],
        )
    )
    return helpers


def _not_visited(
    scope: Scope, category, reference_day: date, facts, period: Period, *, page: int, page_size
) -> list[dict[str, Any]]:
    regions = {row.id: row for row in scope.subtree} if scope.subtree is not None else None
    h = Household
    ra = aliased(Assignment)
    query = (
        select(
            h.id,
            h.number,
            h.head_name,
            h.village_id,
            h.region_id,
            h.region_path,
            ra.helper_id,
            User.display_name.label("helper_name"),
        )
        .select_from(h)
        .outerjoin(facts, facts.c.household_id == h.id)
        .outerjoin(ra, and_(ra.household_id == h.id, active_on(ra, reference_day)))
        .outerjoin(User, User.id == ra.helper_id)
        .where(scope.households(reference_day), func.coalesce(facts.c.visited, 0) == 0)
    )
    if category:
        query = query.where(h.category == category)
    found = (
        query.order_by(h.region_path, h.number, h.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .subquery("page")
    )
    # The page's last visits in the same round trip: one index lookup per listed household.
    last = (
        select(func.max(Visit.ended_at))
        .where(
            Visit.household_id == found.c.id,
            Visit.ended_at < period.end_utc,
            Visit.review_status != ReviewStatus.INVALID,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(found, last.label("last_visit_at")).order_by(
            found.c.region_path, found.c.number, found.c.id
        )
    ).all()
    return household_rows(rows, period=period, regions=regions)


def household_rows(rows, *, period: Period, regions: dict | None = None) -> list[dict[str, Any]]:
    """List entries for households (id, number, head_name, village_id, region_id, helper_id)."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    if regions is None:
        regions = _regions_by_id({row.village_id for row in rows} | {row.region_id for row in rows})
    named = {row.helper_id: row.helper_name for row in rows if hasattr(row, "helper_name")}
    missing = {row.helper_id for row in rows if row.helper_id is not None} - set(named)
    helpers = named | dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(missing))).all()
        if missing
        else {}
    )
    if rows and "last_visit_at" in rows[0]._fields:
        last = {row.id: row.last_visit_at for row in rows}
    else:
        last = last_visits(ids, before=period.end_utc)
    result = []
    for row in rows:
        group = regions.get(row.region_id) if row.region_id != row.village_id else None
        result.append(
            {
                "household_id": row.id,
                "number": row.number,
                "head_name": pii.mask_name(row.head_name),
                "village": _name_view(regions.get(row.village_id)),
                "group": _name_view(group),
                "helper": (
                    {"id": row.helper_id, "display_name": helpers.get(row.helper_id)}
                    if row.helper_id is not None
                    else None
                ),
                "last_visit_at": last.get(row.id),
            }
        )
    return result


def _name_view(region: Region | None) -> dict[str, Any] | None:
    return {"id": region.id, "name": region.name} if region is not None else None


def last_visits(household_ids: list[int], *, before) -> dict[int, Any]:
    """The end time of each household's latest visit not reviewed invalid, before ``before``."""
    if not household_ids:
        return {}
    return dict(
        db.session.execute(
            select(Visit.household_id, func.max(Visit.ended_at))
            .where(
                Visit.household_id.in_(household_ids),
                Visit.ended_at < before,
                Visit.review_status != ReviewStatus.INVALID,
            )
            .group_by(Visit.household_id)
        ).all()
    )


# ----- secretaries' visits to registered poor households (二级书记遍访贫困户) --------------


def secretary_coverage(
    scope: Scope,
    period: Period,
    pending_counts: bool,
    reference_day: date,
    poor_by_region_id: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Registered poor households of the scope visited by a town or village party secretary.

    Each secretary answers for the poor households of their own region (their grant's subtree)
    within the scope; a visit counts under the same review rules as coverage, whoever is the
    household's helper. The household-category filter does not apply here.
    """
    assert scope.region is not None
    path = scope.region.path
    poor_in_scope = and_(
        scope.households(reference_day),
        Household.category == HouseholdCategory.REGISTERED_POOR.value,
    )
    if poor_by_region_id is not None and scope.subtree is not None:
        # Counted along with the households of the coverage rows.
        paths = {row.id: row.path for row in scope.subtree}
        poor_by_region = {paths[i]: n for i, n in poor_by_region_id.items() if n}
    else:
        poor_by_region = dict(
            db.session.execute(
                select(Household.region_path, func.count())
                .where(poor_in_scope)
                .group_by(Household.region_path)
            ).all()
        )
    grant_region = aliased(Region)
    secretaries = db.session.execute(
        select(User.id, User.display_name, RoleGrant.role, grant_region)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .join(grant_region, grant_region.id == RoleGrant.region_id)
        .where(
            User.is_party_secretary.is_(True),
            User.is_active.is_(True),
            RoleGrant.role.in_([r.value for r in SECRETARY_ROLES]),
            or_(
                grant_region.path.startswith(path, autoescape=True),
                literal(path).startswith(grant_region.path),
            ),
        )
        .order_by(grant_region.path, User.id)
    ).all()
    per_secretary: dict[int, tuple[int, int]] = {}
    visited_any = 0
    if secretaries:
        # Driven by the secretaries' ids (the helper-and-time index of visits), and a visit
        # counts for households of the secretary's own region only.
        visits = (
            select(Visit.helper_id, Visit.household_id, Visit.id)
            .join(Household, Household.id == Visit.household_id)
            .join(
                RoleGrant,
                and_(
                    RoleGrant.user_id == Visit.helper_id,
                    RoleGrant.role.in_([r.value for r in SECRETARY_ROLES]),
                ),
            )
            .join(grant_region, grant_region.id == RoleGrant.region_id)
            .where(
                Visit.helper_id.in_(sorted({row[0] for row in secretaries})),
                Visit.ended_at >= period.start_utc,
                Visit.ended_at < period.end_utc,
                Visit.review_status != ReviewStatus.INVALID,
                *(
                    []
                    if pending_counts
                    else [or_(Visit.flag_count == 0, Visit.review_status == ReviewStatus.VALID)]
                ),
                poor_in_scope,
                Household.region_path.startswith(grant_region.path),
            )
            .subquery("sv")
        )
        # One pass: (secretary, household, visits) for the few thousand visits of the month.
        pairs = db.session.execute(
            select(
                visits.c.helper_id, visits.c.household_id, func.count(func.distinct(visits.c.id))
            ).group_by(visits.c.helper_id, visits.c.household_id)
        ).all()
        households_of: dict[int, int] = defaultdict(int)
        visits_of: dict[int, int] = defaultdict(int)
        for helper_id, _household_id, count in pairs:
            households_of[helper_id] += 1
            visits_of[helper_id] += count
        per_secretary = {k: (households_of[k], visits_of[k]) for k in households_of}
        visited_any = len({household_id for _, household_id, _ in pairs})
    total_poor = sum(poor_by_region.values())
    # Poor households under every ancestor path of their region (a tree of a few levels).
    poor_under: dict[str, int] = defaultdict(int)
    for region_path, count in poor_by_region.items():
        codes = region_path.strip("/").split("/")
        for depth in range(1, len(codes) + 1):
            poor_under["/" + "/".join(codes[:depth]) + "/"] += count
    rows = []
    for user_id, display_name, role, region in secretaries:
        households = poor_under.get(region.path, 0)
        visited, visit_count = per_secretary.get(user_id, (0, 0))
        rows.append(
            {
                "user_id": user_id,
                "display_name": display_name,
                "role": role,
                "title": SECRETARY_TITLES[Role(role)],
                "region": region_view(region),
                "households": households,
                "visited": visited,
                "visits": visit_count,
                "coverage_pct": pct(visited, households),
            }
        )
    return {
        "label": "二级书记遍访贫困户",
        "poor_households": total_poor,
        "visited": visited_any or 0,
        "coverage_pct": pct(visited_any or 0, total_poor),
        "by_secretary": rows,
    }
