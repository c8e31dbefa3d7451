"""What a visit's check results do to the household's problems, in the visit's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select

from backend.extensions import db
from backend.models import Household, Problem, ProblemSource, ProblemStatus, Visit
from backend.services import problems as problem_service
from backend.services.authz import Actor
from backend.services.problem_machine import is_open
from backend.services.survey import CheckResult


def check_dedup_key(check_key: str) -> str:
    """The dedup key of the problem a failing check raises."""
    return f"check:{check_key}"


def apply_visit_checks(
    *, visit: Visit, household: Household, checks: Sequence[CheckResult], actor: Actor
) -> list[Problem]:
    """Open, reopen or offer for verification the problems of the visit's checks."""
    touched: list[Problem] = []
    entry = current_app.config["PROBLEM_VISIT_CHECK_ENTRY_STATUS"]
    for check in checks:
        key = check_dedup_key(check.key)
        if check.failed:
            touched.append(_on_failed(visit, household, check, key, entry, actor))
        elif check.status == "pass":
            problem = problem_service.find_open_problem(household_id=household.id, dedup_key=key)
            if problem is not None:
                _offer_verification(problem, visit, check)
                touched.append(problem)
    return touched


def _on_failed(
    visit: Visit, household: Household, check: CheckResult, key: str, entry: str, actor: Actor
) -> Problem:
    if problem_service.find_open_problem(household_id=household.id, dedup_key=key) is None:
        closed = db.session.scalar(
            select(Problem)
            .where(
                Problem.household_id == household.id,
                Problem.dedup_key == key,
                Problem.status == ProblemStatus.CLOSED,
            )
            .order_by(Problem.closed_at.desc(), Problem.id.desc())
            .limit(1)
        )
        if closed is not None:
            return problem_service.system_transition(
                problem=closed,
                action="reopen",
                note=f"再次走访发现问题：{check.problem or check.label}",
                visit_id=visit.id,
            )
    problem, _created = problem_service.open_problem(
        household=household,
        area=check.area,
        check_key=check.key,
        source=ProblemSource.VISIT_CHECK,
        title=check.problem or f"未通过：{check.label}",
        description=check.problem or check.label,
        dedup_key=key,
        status=entry,
        actor=actor,
        source_visit_id=visit.id,
        data={"check": check.key, "answers": check.to_dict()["answers"]},
    )
    return problem


def _offer_verification(problem: Problem, visit: Visit, check: CheckResult) -> None:
    if not is_open(problem.status) or problem.verification_visit_id == visit.id:
        return
    problem.verification_visit_id = visit.id
    problem_service.append_event(
        problem=problem,
        action="verification_offered",
        from_status=problem.status,
        actor=None,
        role=None,
        note=f"后续走访该项检查已通过：{check.label}",
        data={"visit_id": visit.id},
    )
