"""Problems: open, route, move through the state machine, keep the timeline.

Every other source of problems (visit checks, villagers' reports, screening imports,
spot-checks) opens them through ``open_problem`` and moves them through
``transition_problem`` / ``system_transition``, so the rules live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    Office,
    Photo,
    Problem,
    ProblemEvent,
    ProblemStatus,
    Region,
    Role,
    RoleGrant,
    RoutingRule,
    User,
    utcnow,
)
from backend.services import problem_machine as machine
from backend.services.audit import record_event
from backend.services.authz import Actor, require_authenticated
from backend.services.photos import find_photos
from backend.services.problem_machine import SYSTEM, TRANSITIONS

# Roles whose grant reaches a problem through its household's region.
_REGION_ROLES = (Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT)


def route_for(*, area: str, check_key: str | None = None) -> RoutingRule:
    """The routing rule for a check (its own row first), its area, or the catch-all "other"."""
    rules = {
        (r.area, r.check_key): r
        for r in db.session.scalars(
            select(RoutingRule).where(RoutingRule.area.in_([area, "other"]))
        )
    }
    rule = rules.get((area, check_key or "")) or rules.get((area, "")) or rules.get(("other", ""))
    if rule is None:
        raise DomainError("problem.area_unknown", details={"area": area})
    return rule


def deadline_after(*, days: int, start: datetime | None = None) -> datetime:
    """A deadline ``days`` days after ``start`` (now by default)."""
    return (start or utcnow()) + timedelta(days=days)


def _rectify_deadline(problem: Problem, start: datetime, rule: RoutingRule | None) -> datetime:
    rule = rule or route_for(area=problem.area, check_key=problem.check_key)
    days = rule.deadline_days or current_app.config["PROBLEM_DEADLINE_DAYS"]
    return deadline_after(days=days, start=start)


def _deadline_on_entering(
    problem: Problem, status: str, now: datetime, rule: RoutingRule | None = None
) -> datetime | None:
    # The clock restarts at each hand-over: the village has days to accept and pass on,
    # the office has the area's days to rectify. Later states keep the last deadline, since
    # "rectified on time" is judged against it.
    accept_days = current_app.config["PROBLEM_ACCEPT_DEADLINE_DAYS"]
    if status in (ProblemStatus.REPORTED, ProblemStatus.ACCEPTED, ProblemStatus.TOWN_REVIEW):
        return deadline_after(days=accept_days, start=now)
    if status in (ProblemStatus.ASSIGNED, ProblemStatus.REOPENED):
        return _rectify_deadline(problem, now, rule)
    return problem.deadline_at


def actor_label(actor: Actor | None) -> str:
    """How the timeline names the actor."""
    if actor is None:
        return "系统"
    if not actor.is_authenticated:
        return "农户"
    return actor.display_name or f"用户{actor.user_id}"


def append_event(
    *,
    problem: Problem,
    action: str,
    from_status: str | None,
    actor: Actor | None,
    role: str | None,
    note: str = "",
    photo_ids: Sequence[int] = (),
    data: dict[str, Any] | None = None,
) -> ProblemEvent:
    """Append one timeline entry for ``problem`` (whose status is already the new one)."""
    event = ProblemEvent(
        problem_id=problem.id,
        action=action,
        from_status=from_status,
        to_status=problem.status,
        actor_user_id=actor.user_id if actor else None,
        actor_label=actor_label(actor),
        actor_role=role,
        note=note or "",
        photo_ids=list(photo_ids),
        data=data or {},
        created_at=utcnow(),
    )
    db.session.add(event)
    return event


def find_open_problem(*, household_id: int, dedup_key: str) -> Problem | None:
    """The open problem of a household with this dedup key, if any."""
    return db.session.scalar(
        select(Problem).where(
            Problem.household_id == household_id,
            Problem.dedup_key == dedup_key,
            Problem.status.not_in(ProblemStatus.FINISHED),
        )
    )


def open_problem(
    *,
    household: Household,
    area: str,
    source: str,
    title: str,
    actor: Actor | None,
    status: str = ProblemStatus.REPORTED,
    description: str = "",
    check_key: str | None = None,
    dedup_key: str | None = None,
    office_code: str | None = None,
    photo_ids: Sequence[int] = (),
    source_visit_id: int | None = None,
    source_import_id: int | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> tuple[Problem, bool]:
    """Open a problem, or return the open one with the same ``dedup_key``; True if created."""
    if dedup_key:
        existing = find_open_problem(household_id=household.id, dedup_key=dedup_key)
        if existing is not None:
            return existing, False
    if status not in ProblemStatus.ALL or not machine.is_open(status):
        raise ValueError(f"a problem cannot be opened in status {status!r}")
    rule = route_for(area=area, check_key=check_key)
    now = utcnow()
    problem = Problem(
        household_id=household.id,
        region_path=household.region_path,
        village_id=household.village_id,
        area=area,
        check_key=check_key,
        office_code=office_code or rule.office_codes[0],
        source=source,
        source_visit_id=source_visit_id,
        source_import_id=source_import_id,
        dedup_key=dedup_key,
        title=title[:128],
        description=description,
        photo_ids=list(photo_ids),
        status=status,
        escalation_level=0,
        reopen_count=0,
        created_by_id=actor.user_id if actor else None,
        opened_at=now,
        updated_at=now,
    )
    # The rule that routed it also gives its days: a failing check opens at "assigned".
    problem.deadline_at = _deadline_on_entering(problem, status, now, rule)
    # A concurrent submission may open the same problem between our check and our insert;
    # the partial unique index decides, and the loser returns the winner's row.
    try:
        with db.session.begin_nested():
            db.session.add(problem)
            db.session.flush()
    except IntegrityError:
        if not dedup_key:
            raise
        existing = find_open_problem(household_id=household.id, dedup_key=dedup_key)
        if existing is None:
            raise
        return existing, False
    event = append_event(
        problem=problem,
        action="open",
        from_status=None,
        actor=actor,
        role=SYSTEM if actor is None else None,
        note=note or description,
        photo_ids=photo_ids,
        data={"source": source, "office_code": problem.office_code, **(data or {})},
    )
    db.session.flush()
    _after_transition(problem, "open", None, event)
    return problem, True


def acting_roles(actor: Actor | None, problem: Problem) -> frozenset[str]:
    """The roles ``actor`` holds over ``problem`` (offices: only their own office's)."""
    if actor is None:
        return frozenset({SYSTEM})
    roles: set[str] = set()
    for grant in actor.grants:
        if not problem.region_path.startswith(grant.region_path):
            continue
        if grant.role == Role.OFFICE:
            if grant.office_code == problem.office_code:
                roles.add(Role.OFFICE)
        elif grant.role in _REGION_ROLES:
            roles.add(grant.role)
    return frozenset(roles)


def transition_problem(
    *,
    actor: Actor | None,
    problem: Problem,
    action: str,
    note: str = "",
    photo_ids: Sequence[int] = (),
    office_code: str | None = None,
    target_problem_id: int | None = None,
    visit_id: int | None = None,
) -> Problem:
    """Move ``problem`` by ``action`` for ``actor`` (None: the system) and record it."""
    if actor is not None:
        require_authenticated(actor)
    roles = acting_roles(actor, problem)
    transition = TRANSITIONS.get(action)
    if transition is None or problem.status not in transition.sources:
        raise DomainError(
            "problem.transition_not_allowed",
            details={
                "status": problem.status,
                "action": action,
                "allowed": machine.allowed_transitions(problem.status, roles),
            },
        )
    allowed_roles = machine.roles_for(transition, problem.status)
    acting = sorted(roles & allowed_roles)
    if not acting:
        raise DomainError(
            "problem.role_not_allowed",
            details={
                "action": action,
                "roles": sorted(allowed_roles),
                "allowed": machine.allowed_transitions(problem.status, roles),
            },
        )
    note = (note or "").strip()
    field_errors: dict[str, list[str]] = {}
    if (transition.note_required or transition.evidence_required) and not note:
        field_errors["note"] = ["请填写说明。"]
    if transition.evidence_required and not photo_ids:
        field_errors["photo_ids"] = ["整改完成须上传整改后的照片作为证据。"]
    if transition.office_required:
        if not office_code:
            field_errors["office_code"] = ["请选择责任单位。"]
        elif db.session.get(Office, office_code) is None:
            field_errors["office_code"] = ["责任单位不存在。"]
    target: Problem | None = None
    if transition.target_problem_required:
        target = db.session.get(Problem, target_problem_id) if target_problem_id else None
        if (
            target is None
            or target.id == problem.id
            or target.household_id != problem.household_id
            or not machine.is_open(target.status)
        ):
            field_errors["target_problem_id"] = ["请选择同一户尚未销号的另一个问题。"]
    if field_errors:
        code = (
            "problem.evidence_required"
            if "photo_ids" in field_errors
            else "problem.transition_invalid"
        )
        raise DomainError(code, fields={"json": field_errors})
    photos = claim_problem_photos(actor=actor, problem=problem, photo_ids=photo_ids)

    now = utcnow()
    from_status = problem.status
    data: dict[str, Any] = {}
    problem.status = transition.target
    if transition.office_required and office_code != problem.office_code:
        data["from_office"] = problem.office_code
        problem.office_code = office_code
    if transition.office_required:
        data["office_code"] = office_code
    if target is not None:
        problem.merged_into_id = target.id
        data["merged_into_id"] = target.id
    if visit_id is not None:
        data["visit_id"] = visit_id
    if transition.target == ProblemStatus.CLOSED:
        problem.closed_at = now
    if transition.target == ProblemStatus.REOPENED:
        problem.reopen_count += 1
        problem.closed_at = None
    new_deadline = _deadline_on_entering(problem, transition.target, now)
    if new_deadline != problem.deadline_at:
        problem.deadline_at = new_deadline
        problem.escalation_level = 0
        problem.escalated_at = None
        problem.deadline_warned_at = None
    problem.updated_at = now
    event = append_event(
        problem=problem,
        action=action,
        from_status=from_status,
        actor=actor,
        role=acting[0],
        note=note,
        photo_ids=[p.id for p in photos],
        data=data,
    )
    if target is not None:
        append_event(
            problem=target,
            action="merged_in",
            from_status=target.status,
            actor=actor,
            role=acting[0],
            note=note,
            data={"merged_problem_id": problem.id},
        )
    db.session.flush()
    # The audit log is the one place that lists every change, whatever table it touched.
    record_event(
        actor=actor,
        action="problem.transition",
        region_path=problem.region_path,
        target_type="problem",
        target_id=problem.id,
        detail={
            "action": action,
            "from_status": from_status,
            "to_status": problem.status,
            "role": acting[0],
            **data,
        },
    )
    _after_transition(problem, action, from_status, event)
    return problem


def system_transition(
    *, problem: Problem, action: str, note: str, visit_id: int | None = None
) -> Problem:
    """A transition the system makes (a later visit reopening a closed problem)."""
    return transition_problem(
        actor=None, problem=problem, action=action, note=note, visit_id=visit_id
    )


def claim_problem_photos(
    *, actor: Actor | None, problem: Problem, photo_ids: Sequence[int]
) -> list[Photo]:
    """Attach the actor's uploaded photos to ``problem``; refuse unknown, foreign or taken ids."""
    uploader = actor.user_id if actor is not None else None
    photos, bad = find_photos(
        photo_ids,
        refuse=lambda photo: (
            photo.uploader_id != uploader
            or photo.visit_id is not None
            or (photo.problem_id is not None and photo.problem_id != problem.id)
        ),
    )
    if bad:
        raise DomainError("problem.photo_invalid", details={"photo_ids": bad})
    for photo in photos:
        photo.problem_id = problem.id
        photo.household_id = problem.household_id
    return photos


# Hooks run after a transition is recorded (notifications, report receipts). Other modules
# register here so this one does not import them.
_AFTER_TRANSITION: list = []


def on_transition(hook) -> Any:
    """Register ``hook(problem, action, from_status, event)`` to run after every transition.

    ``event`` is the flushed timeline entry the transition appended. Opening a problem counts
    too: ``action`` is "open" and ``from_status`` None.
    """
    _AFTER_TRANSITION.append(hook)
    return hook


def _after_transition(
    problem: Problem, action: str, from_status: str | None, event: ProblemEvent
) -> None:
    for hook in _AFTER_TRANSITION:
        hook(problem, action, from_status, event)


def office_users(office_code: str, region_path: str) -> list[User]:
    """Active users holding the office role for ``office_code`` over ``region_path``."""
    return role_holders(role=Role.OFFICE, region_path=region_path, office_code=office_code)


def role_holders(*, role: str, region_path: str, office_code: str | None = None) -> list[User]:
    """Active users with a ``role`` grant (for ``office_code``) covering ``region_path``."""
    query = (
        select(User, Region.path)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .join(Region, Region.id == RoleGrant.region_id)
        .where(RoleGrant.role == role, User.is_active.is_(True))
        .order_by(User.id)
    )
    if office_code is not None:
        query = query.where(RoleGrant.office_code == office_code)
    # Only the matching grant counts: an office user who is also a helper elsewhere must not
    # receive that other region's problems.
    users: dict[int, User] = {}
    for user, path in db.session.execute(query):
        if region_path.startswith(path):
            users.setdefault(user.id, user)
    return list(users.values())
