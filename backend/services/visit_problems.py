"""What a visit's check results do to the household's problems, in the visit's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import bindparam, select

from backend.extensions import db
from backend.models import Household, Problem, ProblemSource, ProblemStatus, Visit
from backend.services import problems as problem_service
from backend.services import warnings as warning_service
from backend.services.authz import Actor
from backend.services.problem_machine import is_open
from backend.services.survey import PASS, CheckResult

_CHECK_PREFIX = "check:"
# Every problem a visit check of a household may have raised, open or not: one round trip per
# visit, built once. The prefix instead of an IN list of ~25 keys: the household has few such
# rows, and an expanding IN is re-rendered on every execution.
_CHECK_PROBLEMS_QUERY = select(Problem).where(
    Problem.household_id.in_(bindparam("household_ids", expanding=True)),
    Problem.dedup_key.startswith(_CHECK_PREFIX),
)


def check_dedup_key(check_key: str) -> str:
    """The dedup key of the problem a failing check raises."""
    return f"{_CHECK_PREFIX}{check_key}"


def apply_visit_checks(
    *, visit: Visit, household: Household, checks: Sequence[CheckResult], actor: Actor
) -> list[Problem]:
    """Open, reopen or offer for verification the problems of the visit's checks."""
    return apply_visits_checks(entries=[(visit, household, checks, actor)])


def apply_visits_checks(
    *, entries: Sequence[tuple[Visit, Household, Sequence[CheckResult], Actor]]
) -> list[Problem]:
    """``apply_visit_checks`` for many visits, at most one per household, in a few queries."""
    touched: list[Problem] = []
    # Only a failed check (open or reopen its problem) or a passed one (offer its open problem
    # for verification) can act; "not applicable" and "unanswered" touch nothing.
    acting = [
        (visit, household, [c for c in checks if c.failed or c.status == PASS], actor)
        for visit, household, checks, actor in entries
    ]
    acting = [entry for entry in acting if entry[2]]
    if acting:
        # One query for every problem these checks could touch, instead of one or two per
        # check: most households have none, and a visit has ~25 checks.
        known = _check_problems([household.id for _v, household, _c, _a in acting])
        entry_status = current_app.config["PROBLEM_VISIT_CHECK_ENTRY_STATUS"]
        for visit, household, checks, actor in acting:
            open_by_key, closed_by_key = known.get(household.id, ({}, {}))
            for check in checks:
                key = check_dedup_key(check.key)
                problem = open_by_key.get(key)
                if check.failed:
                    if problem is None:
                        problem = _on_failed(
                            visit,
                            household,
                            check,
                            key,
                            entry_status,
                            actor,
                            closed_by_key.get(key),
                        )
                    touched.append(problem)
                elif problem is not None:
                    _offer_verification(problem, visit, check)
                    touched.append(problem)
    # Early-warning flags (low income, sudden hardship, overdue microloan) in the same
    # transaction, so a flag exists iff the visit that raised it does.
    warning_service.evaluate_visits(
        entries=[(visit, household) for visit, household, *_ in entries]
    )
    return touched


def _check_problems(
    household_ids: list[int],
) -> dict[int, tuple[dict[str, Problem], dict[str, Problem]]]:
    """Per household: its open check problem per dedup key, and its latest closed one."""
    known: dict[int, tuple[dict[str, Problem], dict[str, Problem]]] = {}
    for problem in db.session.scalars(
        _CHECK_PROBLEMS_QUERY, {"household_ids": sorted(set(household_ids))}
    ):
        open_by_key, closed_by_key = known.setdefault(problem.household_id, ({}, {}))
        key = problem.dedup_key
        if problem.status == ProblemStatus.CLOSED:
            latest = closed_by_key.get(key)
            if latest is None or _closed_order(problem) > _closed_order(latest):
                closed_by_key[key] = problem
        elif problem.status not in ProblemStatus.FINISHED:
            # At most one per key: the partial unique index on open problems. Merged and
            # rejected problems are never reopened.
            open_by_key[key] = problem
    return known


def _closed_order(problem: Problem) -> tuple:
    # The last closed wins, then the highest id; closing always sets closed_at.
    return (problem.closed_at is not None, problem.closed_at or 0, problem.id)


def _on_failed(
    visit: Visit,
    household: Household,
    check: CheckResult,
    key: str,
    entry: str,
    actor: Actor,
    closed: Problem | None,
) -> Problem:
    # No open problem for this check: reopen the last closed one, or open a new one.
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
