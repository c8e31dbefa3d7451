"""Deadlines: warn before a problem's deadline, escalate it when overdue, again and again.

``sweep_deadlines`` is idempotent: a warning is queued once per deadline (``deadline_warned_at``)
and an escalation once per ``PROBLEM_ESCALATE_EVERY_DAYS`` (``escalated_at``), however often the
sweep runs. A transition that sets a new deadline resets both (``problems.transition_problem``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from backend.extensions import db
from backend.models import Problem, utcnow
from backend.services import notifications
from backend.services.audit import record_event
from backend.services.problem_machine import SYSTEM
from backend.services.problem_queries import OVERDUE_STATES, overdue_clause
from backend.services.problems import append_event


@dataclass
class SweepReport:
    """What one sweep did: the problems warned and escalated, and the messages queued."""

    warned: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    notifications: int = 0


def _locked(query):
    if db.session.get_bind().dialect.name == "postgresql":
        # A second sweeper skips the rows this one holds; PostgreSQL re-checks the WHERE
        # against rows committed meanwhile, so nothing is warned or escalated twice.
        return query.with_for_update(skip_locked=True, of=Problem)
    return query


def _warn_due(now: datetime) -> list[Problem]:
    warn = timedelta(hours=current_app.config["PROBLEM_DEADLINE_WARN_HOURS"])
    query = (
        select(Problem)
        .where(
            # Once rectified, the office has met its deadline; verifying is the town's.
            Problem.status.in_(sorted(OVERDUE_STATES)),
            Problem.deadline_warned_at.is_(None),
            Problem.deadline_at > now,
            Problem.deadline_at <= now + warn,
        )
        .order_by(Problem.deadline_at, Problem.id)
    )
    return list(db.session.scalars(_locked(query)))


def _escalation_due(now: datetime) -> list[Problem]:
    every = timedelta(days=current_app.config["PROBLEM_ESCALATE_EVERY_DAYS"])
    query = (
        select(Problem)
        .where(
            overdue_clause(now),
            or_(
                Problem.escalation_level == 0,
                Problem.escalated_at.is_(None),
                Problem.escalated_at <= now - every,
            ),
        )
        .order_by(Problem.deadline_at, Problem.id)
    )
    return list(db.session.scalars(_locked(query)))


def escalate_problem(*, problem: Problem, now: datetime) -> int:
    """Raise ``problem``'s escalation level, record it, and queue the overdue messages."""
    from_status = problem.status
    problem.escalation_level = (problem.escalation_level or 0) + 1
    problem.escalated_at = now
    note = notifications.overdue_note(problem=problem, now=now)
    data = {
        "level": problem.escalation_level,
        "deadline_at": problem.deadline_at.isoformat(),
        "office_code": problem.office_code,
    }
    append_event(
        problem=problem,
        action="escalated",
        from_status=from_status,
        actor=None,
        role=SYSTEM,
        note=note,
        data=data,
    )
    record_event(
        actor=None,
        action="problem.escalated",
        region_path=problem.region_path,
        target_type="problem",
        target_id=problem.id,
        detail={**data, "status": problem.status},
    )
    return len(notifications.notify_overdue(problem=problem, now=now))


def sweep_deadlines(*, now: datetime | None = None) -> SweepReport:
    """Warn problems nearing their deadline and escalate overdue ones (flushes, never commits)."""
    now = now or utcnow()
    report = SweepReport()
    for problem in _warn_due(now):
        problem.deadline_warned_at = now
        report.notifications += len(notifications.notify_deadline_soon(problem=problem, now=now))
        report.warned.append(problem.id)
    for problem in _escalation_due(now):
        report.notifications += escalate_problem(problem=problem, now=now)
        report.escalated.append(problem.id)
    db.session.flush()
    return report
