"""Overview, village drill-down and the 户户清 map."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from sqlalchemy import case, func, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Household, Problem, ProblemStatus, Region, RegionLevel, utcnow
from backend.models.office import STANDARD_OFFICES
from backend.models.region import LEVEL_LABELS
from backend.services import coverage as coverage_service
from backend.services import household_status as status_service
from backend.services import pii, problem_queries
from backend.services.authz import Actor
from backend.services.clock import china_today
from backend.services.periods import Period
from backend.services.problem_machine import OPEN_STATES, STATUS_LABELS
from backend.services.regions import get_region, list_regions
from backend.web import charts
from backend.web.blueprint import web
from backend.web.common import MAP_ROLES, Pager, actor, int_arg, page_arg, period_arg

TREND_MONTHS = 12
LIST_PAGE_SIZE = 20
HELPERS_SHOWN = 8
LATEST_PROBLEMS = 8
# Beyond this many located households one SVG is no longer readable (nor light): pick a town.
MAP_MAX_POINTS = 6000


# --- overview -----------------------------------------------------------------------------------


@web.get("/")
def overview():
    """总览: coverage, 户户清, problems by office and the monthly trend of the person's scope."""
    who = actor()
    period = period_arg()
    region_id = int_arg("region_id")
    context: dict[str, Any] = {"period": period, "region": None, "coverage": None}
    if who.roles & MAP_ROLES:
        context.update(_coverage_panels(who, period, region_id))
    elif region_id is not None:
        raise DomainError("auth.forbidden", "您无权查看该范围的统计。")
    context.update(_problem_panels(who, context.get("region")))
    if context["coverage"] is None:
        # Offices have no households to cover: their overview is their latest open problems.
        context["latest_problems"], _ = problem_queries.list_problems(
            actor=who, status=sorted(OPEN_STATES), page_size=LATEST_PROBLEMS
        )
    return render_template("web/overview.html", **context)


def _coverage_panels(who: Actor, period: Period, region_id: int | None) -> dict[str, Any]:
    coverage = coverage_service.get_coverage(
        actor=who, period=period, region_id=region_id, not_visited_page_size=1
    )
    scope = coverage["scope"]
    region = coverage["scope_detail"]["region"]
    by = {"town": "village", "village": "group", "group": "group", "helper": "village"}.get(scope)
    rollup = None
    if by is not None:
        rollup = status_service.status_rollup(actor=who, period=period, by=by, region_id=region_id)
    cleared = {row["region_id"]: row for row in (rollup["rows"] if rollup else [])}
    rows = []
    for row in coverage["rows"]:
        status = cleared.get(row["region_id"])
        rows.append({**row, "status": status, "href": _drill_href(row, period)})
    # Above a town the services leave household-level passes out (they would cover the whole
    # county on every page view); so does the overview: its towns link to their own overview.
    household_level = coverage.get("lists_included", True)
    points = []
    if household_level:
        trend = status_service.status_trend(actor=who, months=TREND_MONTHS, region_id=region_id)
        points = trend_points(trend["months"])
    return {
        "coverage": coverage,
        "region": region,
        "scope_label": _scope_label(coverage),
        "rows": rows,
        "rows_level": LEVEL_LABELS.get(RegionLevel(rows[0]["level"]), "") if rows else "",
        "status_total": rollup["total"] if rollup else None,
        "helpers": coverage["helpers"][:HELPERS_SHOWN],
        "household_level": household_level,
        "trend_svg": charts.trend_chart(points) if household_level else None,
        "trend_starts": next((p.label for p in points if p.coverage_pct is not None), None),
    }


def trend_points(months: list[dict[str, Any]]) -> list[charts.TrendPoint]:
    """The trend's months as chart points; the months before the first visit have no data.

    A month without a single visit before the town started using the system is not "0 %
    covered", it is not yet measured; a month without visits after that is a real 0 %.
    """
    started = False
    points = []
    for month in months:
        started = started or month["visited"] > 0
        points.append(
            charts.TrendPoint(
                label=f"{month['period']['from'].month}月",
                coverage_pct=month["coverage_pct"] if started else None,
                cleared_pct=month["cleared_pct"] if started else None,
            )
        )
    return points


def _drill_href(row: dict[str, Any], period: Period) -> str | None:
    if row["level"] == RegionLevel.VILLAGE:
        return url_for("web.village_page", region_id=row["region_id"], period=period.key)
    if row["level"] in (RegionLevel.TOWN, RegionLevel.DISTRICT):
        return url_for("web.overview", region_id=row["region_id"], period=period.key)
    return None


def _scope_label(coverage: dict[str, Any]) -> str:
    detail = coverage["scope_detail"]
    if detail["region"] is not None:
        return detail["region"]["name"]
    if detail["helper"] is not None:
        return f"{detail['helper']['display_name']}的帮扶户"
    return ""


def _problem_panels(who: Actor, region: dict[str, Any] | None) -> dict[str, Any]:
    if region is None:
        counts = problem_queries.count_problems(actor=who, by="office")
        rows = [(r["label"], r["open"], r["overdue"]) for r in counts["rows"]]
        by_status = counts["total"]["by_status"]
    else:
        rows, by_status = office_counts_in_region(who, region["id"])
    shown = [r for r in rows if r[1] or r[2]]
    return {
        "problems_open": sum(r[1] for r in rows),
        "problems_overdue": sum(r[2] for r in rows),
        "problem_statuses": [
            (status, STATUS_LABELS[status], by_status.get(status, 0))
            for status in ProblemStatus.ALL
            if status in OPEN_STATES and by_status.get(status)
        ],
        "problem_svg": charts.problem_bars([charts.BarRow(*r) for r in shown]),
    }


def office_counts_in_region(
    who: Actor, region_id: int
) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """Open and overdue problems per office, and open ones per status, inside one region.

    ``problem_queries.count_problems`` counts the whole scope; the overview of one town of a
    district needs the same figures for that town only.
    """
    region = db.session.get(Region, region_id)
    if region is None:
        return [], {}
    where = [
        problem_queries.problem_scope(who),
        Problem.region_path.startswith(region.path, autoescape=True),
        Problem.status.in_(sorted(OPEN_STATES)),
    ]
    opened = dict(
        db.session.execute(
            select(Problem.office_code, func.count()).where(*where).group_by(Problem.office_code)
        ).all()
    )
    overdue = dict(
        db.session.execute(
            select(Problem.office_code, func.count())
            .where(*where, problem_queries.overdue_clause(utcnow()))
            .group_by(Problem.office_code)
        ).all()
    )
    by_status = dict(
        db.session.execute(
            select(Problem.status, func.count()).where(*where).group_by(Problem.status)
        ).all()
    )
    names = dict(STANDARD_OFFICES)
    codes = [c for c, _ in STANDARD_OFFICES] + sorted(set(opened) - set(names))
    rows = [(names.get(c, c), opened.get(c, 0), overdue.get(c, 0)) for c in codes]
    return rows, by_status


# --- a village ----------------------------------------------------------------------------------


@web.get("/villages/<int:region_id>")
def village_page(region_id: int):
    """村情: a village's coverage by group, its not-visited and not-cleared households."""
    who = actor()
    period = period_arg()
    village = get_region(actor=who, region_id=region_id)
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("region.not_village")
    not_visited_page = page_arg("nv_page")
    not_cleared_page = page_arg("nc_page")
    coverage = coverage_service.get_coverage(
        actor=who,
        period=period,
        region_id=village.id,
        not_visited_page=not_visited_page,
        not_visited_page_size=LIST_PAGE_SIZE,
    )
    rollup = status_service.status_rollup(
        actor=who, period=period, by="group", region_id=village.id
    )
    cleared = {row["region_id"]: row for row in rollup["rows"]}
    not_cleared, not_cleared_total = status_service.list_household_status(
        actor=who,
        period=period,
        region_id=village.id,
        status="not_cleared",
        page=not_cleared_page,
        page_size=LIST_PAGE_SIZE,
    )
    _, open_problems = problem_queries.list_problems(
        actor=who, village_id=village.id, status=sorted(OPEN_STATES), page_size=1
    )
    _, overdue_problems = problem_queries.list_problems(
        actor=who, village_id=village.id, overdue=True, page_size=1
    )
    return render_template(
        "web/village.html",
        period=period,
        village=village,
        coverage=coverage,
        groups=[{**row, "status": cleared.get(row["region_id"])} for row in coverage["rows"]],
        status_total=rollup["total"],
        not_visited=coverage["not_visited"],
        not_visited_pager=Pager(not_visited_page, LIST_PAGE_SIZE, coverage["not_visited_total"]),
        not_cleared=not_cleared,
        not_cleared_pager=Pager(not_cleared_page, LIST_PAGE_SIZE, not_cleared_total),
        open_problems=open_problems,
        overdue_problems=overdue_problems,
    )


# --- the map ------------------------------------------------------------------------------------


def map_households(
    who: Actor, period: Period, region_id: int | None
) -> tuple[list[Any], int, bool]:
    """The scope's located households with their 户户清 columns, how many lack a location, and
    whether there were too many to draw.

    One set-based query over ``household_status.status_query`` (the list endpoint pages; the map
    needs every point of the scope at once, with its coordinates).
    """
    reference_day = period.reference_day(china_today())
    scope = coverage_service.resolve_scope(
        actor=who, region_id=region_id, reference_day=reference_day
    )
    s = status_service.status_query(
        period=period,
        scope=scope,
        category=None,
        pending_counts=coverage_service.count_pending(),
        as_of=period.as_of(utcnow()),
        reference_day=reference_day,
    )
    located = Household.lat.is_not(None) & Household.lon.is_not(None)
    counts = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((located, 1), else_=0)), 0),
        )
        .select_from(s)
        .join(Household, Household.id == s.c.id)
    ).one()
    total, with_location = int(counts[0]), int(counts[1])
    if with_location > MAP_MAX_POINTS:
        return [], total - with_location, True
    rows = db.session.execute(
        select(
            s.c.id,
            s.c.number,
            s.c.head_name,
            s.c.village_id,
            s.c.visited,
            s.c.cleared,
            Household.lat,
            Household.lon,
        )
        .select_from(s)
        .join(Household, Household.id == s.c.id)
        .where(located)
        .order_by(s.c.id)
    ).all()
    return rows, total - with_location, False


def _status_key(row) -> str:
    if row.cleared:
        return "cleared"
    return "open_problems" if row.visited else "not_visited"


@web.get("/map")
def map_page():
    """户户清地图: households coloured by status, villages outlined, no tiles."""
    who = actor()
    period = period_arg()
    region_id = int_arg("region_id")
    rows, unlocated, too_many = map_households(who, period, region_id)
    village_names = dict(
        db.session.execute(
            select(Region.id, Region.name).where(Region.id.in_({r.village_id for r in rows}))
        ).all()
    )
    points = []
    tally = dict.fromkeys(charts.STATUS_COLOURS, 0)
    for row in rows:
        status = _status_key(row)
        tally[status] += 1
        points.append(
            charts.MapPoint(
                lat=row.lat,
                lon=row.lon,
                status=status,
                village_id=row.village_id,
                title=f"{row.number} {pii.mask_name(row.head_name)} · "
                f"{charts.STATUS_LABELS[status]}",
                href=url_for("web.household_page", household_id=row.id, period=period.key),
            )
        )
    return render_template(
        "web/map.html",
        period=period,
        region_id=region_id,
        regions=_map_regions(who),
        map_svg=charts.household_map(points, village_names),
        tally=tally,
        legend=[
            (key, charts.STATUS_LABELS[key], charts.STATUS_COLOURS[key], tally[key])
            for key in charts.STATUS_COLOURS
        ],
        unlocated=unlocated,
        too_many=too_many,
        located=len(points),
    )


def _map_regions(who: Actor) -> list[Region]:
    """Towns and villages of the actor's coverage scope, for the map's region picker."""
    paths = who.paths_for(coverage_service.COVERAGE_ROLES)
    if not paths:
        return []
    return [
        r
        for r in list_regions(actor=who)
        if r.level in (RegionLevel.TOWN, RegionLevel.VILLAGE)
        and any(r.path.startswith(p) for p in paths)
    ]
