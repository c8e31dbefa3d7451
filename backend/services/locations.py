"""Household location proposals: a good-accuracy visit proposes, a town admin decides.

The visit service creates ``pending`` proposals for households without a registered location.
The village cadre, the town office and the district see them; only the town office and the
district confirm (the household's location is set) or reject them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Household, LocationProposal, Role, User, Visit, utcnow
from backend.services.audit import record_event
from backend.services.authz import (
    ADMIN_ROLES,
    Actor,
    can_read_household,
    household_scope,
    require_role,
)
from backend.services.households import household_summary

PENDING = "pending"
CONFIRMED = "confirmed"
REJECTED = "rejected"
STATUSES = (PENDING, CONFIRMED, REJECTED)
STATUS_LABELS = {PENDING: "待确认", CONFIRMED: "已确认", REJECTED: "已驳回"}
LOCATION_READ_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.DISTRICT})
LOCATION_DECIDE_ROLES = ADMIN_ROLES


@dataclass
class ProposalPage:
    """One page of location proposals."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def list_proposals(
    *, actor: Actor, status: str | None = PENDING, page: int = 1, page_size: int = 50
) -> ProposalPage:
    """Proposals of households in the actor's scope, oldest first; households masked."""
    require_role(actor, LOCATION_READ_ROLES)
    query = (
        select(LocationProposal)
        .join(Household, Household.id == LocationProposal.household_id)
        .where(household_scope(actor, LOCATION_READ_ROLES))
    )
    if status:
        query = query.where(LocationProposal.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    helper = aliased(User)
    decider = aliased(User)
    rows = db.session.execute(
        query.add_columns(Household, Visit, helper.display_name, decider.display_name)
        .join(Visit, Visit.id == LocationProposal.visit_id)
        .join(helper, helper.id == Visit.helper_id)
        .outerjoin(decider, decider.id == LocationProposal.decided_by_id)
        .options(selectinload(Household.region), selectinload(Household.village))
        .order_by(LocationProposal.created_at, LocationProposal.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    items = [
        _view(proposal, household, visit, helper_name, decider_name)
        for proposal, household, visit, helper_name, decider_name in rows
    ]
    return ProposalPage(items=items, total=total, page=page, page_size=page_size)


def confirm_proposal(*, actor: Actor, proposal_id: int) -> dict[str, Any]:
    """Set the household's location from the proposal; the audit keeps the old one."""
    proposal, household = _load_for_decision(actor, proposal_id)
    old = {"lat": household.lat, "lon": household.lon}
    household.lat = proposal.lat
    household.lon = proposal.lon
    _decide(actor, proposal, CONFIRMED)
    record_event(
        actor=actor,
        action="household.location_confirmed",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={
            "proposal_id": proposal.id,
            "visit_id": proposal.visit_id,
            "accuracy_m": proposal.accuracy,
            "old": old,
            "new": {"lat": proposal.lat, "lon": proposal.lon},
        },
    )
    return proposal_view(proposal)


def reject_proposal(*, actor: Actor, proposal_id: int, note: str | None = None) -> dict[str, Any]:
    """Refuse the proposal; the household's location is unchanged. The note goes to the audit."""
    proposal, household = _load_for_decision(actor, proposal_id)
    _decide(actor, proposal, REJECTED)
    record_event(
        actor=actor,
        action="household.location_rejected",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={
            "proposal_id": proposal.id,
            "visit_id": proposal.visit_id,
            "lat": proposal.lat,
            "lon": proposal.lon,
            "note": note or None,
        },
    )
    return proposal_view(proposal)


def proposal_view(proposal: LocationProposal) -> dict[str, Any]:
    """A proposal with its (masked) household, the proposing visit and the decision."""
    visit = db.session.get(Visit, proposal.visit_id)
    decider = db.session.get(User, proposal.decided_by_id) if proposal.decided_by_id else None
    return _view(
        proposal,
        db.session.get(Household, proposal.household_id),
        visit,
        visit.helper.display_name,
        decider.display_name if decider is not None else None,
    )


def _view(
    proposal: LocationProposal,
    household: Household,
    visit: Visit,
    helper_name: str | None,
    decider_name: str | None,
) -> dict[str, Any]:
    return {
        "id": proposal.id,
        "status": proposal.status,
        "status_label": STATUS_LABELS.get(proposal.status, proposal.status),
        "household": household_summary(household),
        "lat": proposal.lat,
        "lon": proposal.lon,
        "accuracy": proposal.accuracy,
        "visit_id": proposal.visit_id,
        "visit_ended_at": visit.ended_at,
        "helper_name": helper_name,
        "created_at": proposal.created_at,
        "decided_by_name": decider_name,
        "decided_at": proposal.decided_at,
    }


def _load_for_decision(actor: Actor, proposal_id: int) -> tuple[LocationProposal, Household]:
    require_role(actor, LOCATION_DECIDE_ROLES)
    # Row lock: two admins deciding at once must not both see it pending.
    proposal = db.session.scalar(
        select(LocationProposal).where(LocationProposal.id == proposal_id).with_for_update()
    )
    household = db.session.get(Household, proposal.household_id) if proposal else None
    if household is None or not can_read_household(actor, household, LOCATION_READ_ROLES):
        raise DomainError("location.not_found")
    if not can_read_household(actor, household, LOCATION_DECIDE_ROLES):
        raise DomainError("auth.forbidden")
    if proposal.status != PENDING:
        raise DomainError(
            "location.already_decided",
            details={"status": proposal.status, "decided_at": _iso(proposal.decided_at)},
        )
    return proposal, household


def _decide(actor: Actor, proposal: LocationProposal, status: str) -> None:
    proposal.status = status
    proposal.decided_by_id = actor.user_id
    proposal.decided_at = utcnow()
    db.session.flush()


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
