"""Helper ↔ household assignments: who is responsible for a household, and since when."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Assignment, Household, Role, User
from backend.services.audit import record_event
from backend.services.authz import (
    ADMIN_ROLES,
    Actor,
    load_household_for,
    require_household_role,
    require_role,
)


def current_assignment(household_id: int) -> Assignment | None:
    """The household's open assignment, if any."""
    return db.session.scalar(
        select(Assignment).where(
            Assignment.household_id == household_id, Assignment.end_date.is_(None)
        )
    )


def assign_helper(
    *,
    household: Household,
    helper: User,
    start_date: date,
    actor: Actor | None = None,
) -> Assignment:
    """Make ``helper`` responsible for ``household`` from ``start_date``.

    An open assignment to someone else is ended the day before, in the same transaction, and
    kept as history. Assigning the current helper again changes nothing.
    """
    if not any(g.role == Role.HELPER for g in helper.grants):
        raise DomainError("assignment.invalid", "该用户不是帮扶责任人。")
    current = current_assignment(household.id)
    if current is not None and current.helper_id == helper.id:
        return current
    if current is not None:
        if start_date <= current.start_date:
            raise DomainError(
                "assignment.invalid",
                "新帮扶关系的开始日期必须晚于原帮扶关系的开始日期。",
                fields={"start_date": ["开始日期过早"]},
            )
        current.end_date = start_date - timedelta(days=1)
        # Flush the end first: the unique index allows only one open assignment.
        db.session.flush()
    assignment = Assignment(
        household_id=household.id,
        helper_id=helper.id,
        start_date=start_date,
        created_by_id=actor.user_id if actor else None,
    )
    db.session.add(assignment)
    db.session.flush()
    record_event(
        actor=actor,
        action="assignment.changed",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={
            "helper_id": helper.id,
            "previous_helper_id": current.helper_id if current else None,
            "start_date": start_date.isoformat(),
        },
    )
    return assignment


def list_assignments(*, actor: Actor, household_id: int) -> list[Assignment]:
    """The household's assignment history, newest first."""
    load_household_for(actor, household_id)
    return list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.household_id == household_id)
            .order_by(Assignment.start_date.desc(), Assignment.id.desc())
        ).all()
    )


def reassign_household(
    *, actor: Actor, household_id: int, helper_id: int, start_date: date
) -> Assignment:
    """Hand a household to another helper (town admins and the district)."""
    household = load_household_for(actor, household_id)
    require_household_role(actor, household, ADMIN_ROLES)
    helper = db.session.get(User, helper_id)
    if helper is None:
        raise DomainError(
            "assignment.invalid", fields={"json": {"helper_id": ["找不到该帮扶责任人。"]}}
        )
    covers = any(
        g.role == Role.HELPER and household.region_path.startswith(g.region.path)
        for g in helper.grants
    )
    if not covers:
        raise DomainError(
            "assignment.invalid",
            "该用户不是本村的帮扶责任人。",
            fields={"json": {"helper_id": ["该用户没有覆盖本户所在村的帮扶责任人角色。"]}},
        )
    return assign_helper(household=household, helper=helper, start_date=start_date, actor=actor)


def list_my_households(*, actor: Actor) -> list[Household]:
    """The households currently assigned to the calling helper."""
    require_role(actor, {Role.HELPER})
    return list(
        db.session.scalars(
            select(Household)
            .join(Assignment, Assignment.household_id == Household.id)
            .where(Assignment.helper_id == actor.user_id, Assignment.end_date.is_(None))
            .order_by(Household.number)
        ).all()
    )
