"""Monthly spot-checks (抽查核验): a stratified random sample of visits, re-verified by 镇纪委.

The sample is reproducible: candidates are the region's visits of the month (China time) that
are not already invalid, grouped by village and sorted by id, and each village draws
``ceil(share × n)`` of them (at least one) from one ``random.Random(seed)`` walked in village-id
order. The same seed over the same visits always gives the same sample; the seed is stored.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    ProblemSource,
    ProblemStatus,
    Region,
    RegionLevel,
    ReviewStatus,
    Role,
    SpotCheck,
    SpotCheckItem,
    SpotCheckOutcome,
    Visit,
    utcnow,
)
from backend.services.audit import record_event
from backend.services.authz import Actor, require_role
from backend.services.periods import parse_period
from backend.services.problems import open_problem
from backend.services.refs import group_name, user_names, user_ref_by_id
from backend.services.regions import get_region
from backend.services.review import mark_visit_invalid

CREATE_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR})
READ_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})
# Only 镇纪委 records what it found when re-verifying.
OUTCOME_ROLES = frozenset({Role.INSPECTOR})
OUTCOME_LABELS = {
    SpotCheckOutcome.PENDING: "待核验",
    SpotCheckOutcome.CONFIRMED_PHONE: "电话回访属实",
    SpotCheckOutcome.CONFIRMED_REVISIT: "实地复核属实",
    SpotCheckOutcome.NOT_CONFIRMED: "核实不属实",
}
DECIDED_OUTCOMES = (
    SpotCheckOutcome.CONFIRMED_PHONE,
    SpotCheckOutcome.CONFIRMED_REVISIT,
    SpotCheckOutcome.NOT_CONFIRMED,
)
# A visit that could not be confirmed becomes a problem for 镇纪委 (routing area "authenticity").
PROBLEM_AREA = "authenticity"
PROBLEM_OFFICE = "jw"


# --- the sample (pure) -------------------------------------------------------------------------


def stratum_size(population: int, share: float) -> int:
    """How many of a village's ``population`` visits to draw: ceil(share × n), at least one."""
    if population <= 0:
        return 0
    # Rounded first so that 0.1 × 30 (3.0000000000000004 in floats) asks for 3, not 4.
    return min(population, max(1, math.ceil(round(share * population, 9))))


def draw_sample(
    candidates: Mapping[int, Sequence[int]], *, share: float, seed: str
) -> dict[int, list[int]]:
    """Sample visit ids per village from ``{village_id: visit_ids}``; same input → same output."""
    rng = random.Random(seed)
    sample: dict[int, list[int]] = {}
    for village_id in sorted(candidates):
        ids = sorted(set(candidates[village_id]))
        sample[village_id] = sorted(rng.sample(ids, stratum_size(len(ids), share)))
    return sample


def new_seed() -> str:
    """A fresh random seed, stored with the spot-check so its sample can be redrawn."""
    return secrets.token_hex(8)


# --- creating ----------------------------------------------------------------------------------


def _month(period: str):
    month = parse_period(period=period)
    if month.kind != "month":
        raise DomainError(
            "period.invalid",
            "抽查按月进行，请填写月份，例如 2026-11。",
            fields={"json": {"period": ["抽查按月进行，请填写月份，例如 2026-11。"]}},
        )
    return month


def _candidates(region: Region, period: str) -> dict[int, list[int]]:
    month = _month(period)
    start, end = month.start_utc, month.end_utc
    rows = db.session.execute(
        select(Household.village_id, Visit.id)
        .join(Household, Household.id == Visit.household_id)
        .where(
            Household.region_path.startswith(region.path, autoescape=True),
            Visit.ended_at >= start,
            Visit.ended_at < end,
            Visit.review_status != ReviewStatus.INVALID,
        )
        .order_by(Household.village_id, Visit.id)
    )
    candidates: dict[int, list[int]] = {}
    for village_id, visit_id in rows:
        candidates.setdefault(village_id, []).append(visit_id)
    return candidates


def _existing(region_id: int, period: str) -> SpotCheck | None:
    return db.session.scalar(
        select(SpotCheck).where(SpotCheck.region_id == region_id, SpotCheck.period == period)
    )


def _conflict(existing: SpotCheck) -> DomainError:
    return DomainError("spot_check.exists", details={"spot_check_id": existing.id})


def create_spot_check(
    *,
    actor: Actor,
    period: str,
    region_id: int,
    share: float | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """Draw and store the month's sample for a town; one per town and month."""
    require_role(actor, CREATE_ROLES)
    region = get_region(actor=actor, region_id=region_id)
    if not actor.covers_path(region.path, CREATE_ROLES):
        raise DomainError("auth.forbidden", "所选地区不在您的管辖范围内。")
    if region.level != RegionLevel.TOWN:
        raise DomainError(
            "spot_check.region_invalid", fields={"json": {"region_id": ["请选择镇。"]}}
        )
    period = _month(period).key
    existing = _existing(region.id, period)
    if existing is not None:
        raise _conflict(existing)
    share = current_app.config["SPOT_CHECK_SHARE"] if share is None else share
    seed = seed or new_seed()
    candidates = _candidates(region, period)
    if not candidates:
        raise DomainError("spot_check.empty", details={"period": period})
    sample = draw_sample(candidates, share=share, seed=seed)
    spot_check = SpotCheck(
        region_id=region.id,
        region_path=region.path,
        period=period,
        share=share,
        seed=seed,
        population_size=sum(len(ids) for ids in candidates.values()),
        sample_size=sum(len(ids) for ids in sample.values()),
        strata={
            str(village_id): {"population": len(candidates[village_id]), "sample": len(ids)}
            for village_id, ids in sample.items()
        },
        created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    try:
        # Two clerks drawing the same month at once: the unique constraint keeps one.
        with db.session.begin_nested():
            db.session.add(spot_check)
            db.session.flush()
    except IntegrityError:
        existing = _existing(region.id, period)
        if existing is None:
            raise
        raise _conflict(existing) from None
    for village_id, ids in sample.items():
        for visit_id in ids:
            db.session.add(
                SpotCheckItem(
                    spot_check_id=spot_check.id,
                    visit_id=visit_id,
                    village_id=village_id,
                    outcome=SpotCheckOutcome.PENDING,
                    note="",
                )
            )
    db.session.flush()
    record_event(
        actor=actor,
        action="spot_check.create",
        region_path=region.path,
        target_type="spot_check",
        target_id=spot_check.id,
        detail={
            "region_id": region.id,
            "period": period,
            "share": share,
            "seed": seed,
            "population": spot_check.population_size,
            "sample": spot_check.sample_size,
        },
    )
    db.session.refresh(spot_check)
    return spot_check_detail(spot_check)


# --- reading -----------------------------------------------------------------------------------


@dataclass
class SpotCheckPage:
    """One page of spot-checks."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def _scope(actor: Actor, roles):
    paths = actor.paths_for(roles)
    clauses = [SpotCheck.region_path.startswith(p, autoescape=True) for p in paths]
    return clauses


def _outcome_counts(spot_check_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {
        i: dict.fromkeys(SpotCheckOutcome.ALL, 0) for i in spot_check_ids
    }
    if not spot_check_ids:
        return counts
    for spot_check_id, outcome, n in db.session.execute(
        select(SpotCheckItem.spot_check_id, SpotCheckItem.outcome, func.count())
        .where(SpotCheckItem.spot_check_id.in_(spot_check_ids))
        .group_by(SpotCheckItem.spot_check_id, SpotCheckItem.outcome)
    ):
        counts[spot_check_id][outcome] = int(n)
    return counts


def _summary(spot_check: SpotCheck, counts: dict[str, int], names: dict[int, str]) -> dict:
    region = db.session.get(Region, spot_check.region_id)
    return {
        "id": spot_check.id,
        "region": {"id": region.id, "name": region.name},
        "period": spot_check.period,
        "share": spot_check.share,
        "seed": spot_check.seed,
        "population_size": spot_check.population_size,
        "sample_size": spot_check.sample_size,
        "outcomes": counts,
        "pending": counts.get(SpotCheckOutcome.PENDING, 0),
        "created_by": user_ref_by_id(spot_check.created_by_id, names),
        "created_at": spot_check.created_at,
    }


def list_spot_checks(
    *,
    actor: Actor,
    region_id: int | None = None,
    period: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> SpotCheckPage:
    """Spot-checks in the actor's scope, newest period first."""
    require_role(actor, READ_ROLES)
    query = select(SpotCheck).where(or_(*_scope(actor, READ_ROLES)))
    if region_id is not None:
        query = query.where(SpotCheck.region_id == region_id)
    if period:
        query = query.where(SpotCheck.period == period)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(
        db.session.scalars(
            query.order_by(SpotCheck.period.desc(), SpotCheck.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    counts = _outcome_counts([r.id for r in rows])
    names = user_names(r.created_by_id for r in rows)
    return SpotCheckPage(
        items=[_summary(r, counts[r.id], names) for r in rows],
        total=total,
        page=page,
        page_size=page_size,
    )


def _load(actor: Actor, spot_check_id: int, roles) -> SpotCheck:
    spot_check = db.session.get(SpotCheck, spot_check_id)
    if spot_check is None or not actor.covers_path(spot_check.region_path, roles):
        raise DomainError("spot_check.not_found")
    return spot_check


def get_spot_check(*, actor: Actor, spot_check_id: int) -> dict[str, Any]:
    """One spot-check with its sampled visits and their outcomes."""
    require_role(actor, READ_ROLES)
    return spot_check_detail(_load(actor, spot_check_id, READ_ROLES))


def spot_check_detail(spot_check: SpotCheck) -> dict[str, Any]:
    """A spot-check with its strata and items."""
    items = list(
        db.session.scalars(
            select(SpotCheckItem)
            .where(SpotCheckItem.spot_check_id == spot_check.id)
            .order_by(SpotCheckItem.village_id, SpotCheckItem.visit_id)
        )
    )
    visits = {
        v.id: v
        for v in db.session.scalars(
            select(Visit)
            .where(Visit.id.in_([i.visit_id for i in items]))
            .options(
                selectinload(Visit.household).selectinload(Household.region),
                selectinload(Visit.helper),
            )
        )
    }
    village_ids = {int(k) for k in (spot_check.strata or {})} | {i.village_id for i in items}
    villages = dict(
        db.session.execute(select(Region.id, Region.name).where(Region.id.in_(village_ids))).all()
    )
    names = user_names([*(i.decided_by_id for i in items), spot_check.created_by_id])
    counts = dict.fromkeys(SpotCheckOutcome.ALL, 0)
    for item in items:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    detail = _summary(spot_check, counts, names)
    detail["strata"] = [
        {
            "village": {"id": int(village_id), "name": villages.get(int(village_id))},
            "population": stratum["population"],
            "sample": stratum["sample"],
        }
        for village_id, stratum in sorted(
            (spot_check.strata or {}).items(), key=lambda kv: int(kv[0])
        )
    ]
    detail["items"] = [_item_view(i, visits[i.visit_id], villages, names) for i in items]
    return detail


def _item_view(
    item: SpotCheckItem, visit: Visit, villages: dict[int, str], names: dict[int, str]
) -> dict[str, Any]:
    household = visit.household
    return {
        "id": item.id,
        "visit_id": visit.id,
        "village": {"id": item.village_id, "name": villages.get(item.village_id)},
        "household": {
            "id": household.id,
            "number": household.number,
            "head_name": household.head_name,
            "group_name": group_name(household),
        },
        "helper": {"id": visit.helper_id, "display_name": visit.helper.display_name},
        "visit_ended_at": visit.ended_at,
        "visit_flag_codes": [f.get("code") for f in visit.flags or []],
        "visit_review_status": visit.review_status,
        "outcome": item.outcome,
        "outcome_label": OUTCOME_LABELS.get(item.outcome, item.outcome),
        "note": item.note,
        "decided_by": user_ref_by_id(item.decided_by_id, names),
        "decided_at": item.decided_at,
        "problem_id": item.problem_id,
    }


# --- outcomes ----------------------------------------------------------------------------------


def record_outcome(
    *, actor: Actor, spot_check_id: int, item_id: int, outcome: str, note: str | None = None
) -> dict[str, Any]:
    """Record what 镇纪委 found for one sampled visit; "not confirmed" invalidates it and opens
    a problem for 镇纪委."""
    require_role(actor, OUTCOME_ROLES)
    spot_check = _load(actor, spot_check_id, OUTCOME_ROLES)
    item = db.session.get(SpotCheckItem, item_id)
    if item is None or item.spot_check_id != spot_check.id:
        raise DomainError("spot_check.item_not_found")
    if outcome not in DECIDED_OUTCOMES:
        raise DomainError(
            "request.validation",
            fields={
                "json": {
                    "outcome": ["取值应为 confirmed_phone、confirmed_revisit 或 not_confirmed。"]
                }
            },
        )
    note = (note or "").strip()
    if outcome == SpotCheckOutcome.NOT_CONFIRMED and not note:
        raise DomainError(
            "spot_check.note_required", fields={"json": {"note": ["请写明核实不属实的情况。"]}}
        )
    if item.outcome != SpotCheckOutcome.PENDING:
        raise DomainError(
            "spot_check.already_decided",
            details={"outcome": item.outcome, "decided_at": item.decided_at.isoformat()},
        )
    item.outcome = outcome
    item.note = note
    item.decided_by_id = actor.user_id
    item.decided_at = utcnow()
    visit = db.session.get(Visit, item.visit_id)
    if outcome == SpotCheckOutcome.NOT_CONFIRMED:
        mark_visit_invalid(
            actor=actor, visit=visit, note=f"抽查核实不属实：{note}", via="spot_check"
        )
        problem, _created = open_problem(
            household=visit.household,
            area=PROBLEM_AREA,
            source=ProblemSource.SPOT_CHECK,
            title="走访记录经抽查核实不属实",
            actor=actor,
            status=ProblemStatus.ASSIGNED,
            description=note,
            office_code=PROBLEM_OFFICE,
            source_visit_id=visit.id,
            dedup_key=f"spot_check:visit:{visit.id}",
            data={"spot_check_id": spot_check.id, "item_id": item.id, "period": spot_check.period},
        )
        item.problem_id = problem.id
    db.session.flush()
    record_event(
        actor=actor,
        action="spot_check.outcome",
        region_path=visit.household.region_path,
        target_type="spot_check_item",
        target_id=item.id,
        detail={
            "spot_check_id": spot_check.id,
            "visit_id": visit.id,
            "outcome": outcome,
            "note": note,
            "problem_id": item.problem_id,
        },
    )
    names = user_names([item.decided_by_id])
    villages = dict(
        db.session.execute(select(Region.id, Region.name).where(Region.id == item.village_id)).all()
    )
    return _item_view(item, visit, villages, names)
