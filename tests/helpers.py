"""Arrange helpers shared by the tests: visit bodies and submitting them, opening problems."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from backend.extensions import db
from backend.models import Household, Problem, User, Visit, VisitCheck
from backend.services.problems import open_problem
from tests.factories import PhotoFactory, default_answers

PHOTO_SLOTS = ("photo_house", "photo_water", "photo_helper_with_head")


def slot_photos(user: User, household: Household) -> dict[str, list[int]]:
    """One stored photo by ``user`` of ``household`` for each photo slot of the form."""
    return {
        slot: [PhotoFactory(uploader_id=user.id, household_id=household.id).id]
        for slot in PHOTO_SLOTS
    }


def gps_fix(
    household: Household, *, accuracy: float = 10.0, captured_at: datetime | None = None
) -> dict:
    """A WGS-84 fix on the household's registered place."""
    fix = {"lat": household.lat, "lon": household.lon, "accuracy": accuracy, "coord": "wgs84"}
    if captured_at is not None:
        fix["captured_at"] = captured_at.isoformat()
    return fix


def visit_body(
    household: Household,
    user: User,
    *,
    ended_at: datetime,
    minutes: float = 20,
    gps: dict | None = None,
    **answers,
) -> dict:
    """A visit ending ``ended_at`` after ``minutes``, every check passing unless ``answers`` say."""
    body = {
        "client_uuid": str(uuid.uuid4()),
        "household_id": household.id,
        "form_version": 1,
        "answers": {**default_answers(household, slot_photos(user, household)), **answers},
        "started_at": (ended_at - timedelta(minutes=minutes)).isoformat(),
        "ended_at": ended_at.isoformat(),
    }
    if gps is not None:
        body["gps"] = gps
    return body


def submit_visit(client, login, user: User, body: dict) -> dict:
    """Submit the visit through the API as ``user``; asserts it was stored, returns its JSON."""
    resp = client.post("/api/v1/visits", json=body, headers=login(user))
    assert resp.status_code == 201, resp.json
    return resp.json


def make_problem(
    household: Household,
    title: str,
    *,
    status: str = "assigned",
    area: str = "water",
    source: str = "visit_check",
    **kw,
) -> Problem:
    """Open a new problem of ``household`` as the system does (no acting user)."""
    problem, created = open_problem(
        household=household, area=area, source=source, title=title, status=status, actor=None, **kw
    )
    assert created
    return problem


def stored_check_results() -> int:
    """How many check results the stored visits hold, having asserted that the rows of
    visit_checks are exactly the results not passed (none of a visit not stored, none missing)."""
    total = 0
    expected: Counter = Counter()
    for visit_id, results in db.session.execute(select(Visit.id, Visit.check_results)):
        total += len(results)
        expected.update((visit_id, r["check_key"]) for r in results if not r["passed"])
    rows = db.session.execute(select(VisitCheck.visit_id, VisitCheck.check_key)).all()
    assert Counter(tuple(row) for row in rows) == expected
    return total
