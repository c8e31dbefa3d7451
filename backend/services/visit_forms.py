"""The prefilled visit form (减少填表报数): what the helper already knows is never asked again.

The phone renders the current survey version with suggestions from the roster and from the
household's last valid visit; the helper confirms or corrects them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Household, ReviewStatus, Visit
from backend.services import survey
from backend.services.authz import (
    Actor,
    can_read_household,
    can_see_pii,
    load_household_for,
    require_authenticated,
)
from backend.services.cards import find_card
from backend.services.clock import china_today
from backend.services.forms import require_current_form
from backend.services.households import household_summary, record_pii_read
from backend.services.survey.common import age_on

# Roster facts the survey engine reads from each member (README of backend.services.survey).
MEMBER_SURVEY_FIELDS = (
    "schooling",
    "medical_insurance",
    "serious_illness_insurance",
    "doctor_name",
    "disability",
    "chronic_illness",
    "migrant_work",
)
HOUSEHOLD_SURVEY_FIELDS = (
    "category",
    "poverty_status",
    "monitor_type",
    "is_dibao",
    "is_tekun",
    "is_disabled",
    "is_monitored",
)


def members_for_survey(household: Household) -> list[dict[str, Any]]:
    """The household's members as the plain dicts the survey engine takes."""
    out = []
    for member in household.members:
        row: dict[str, Any] = {
            "id": member.id,
            "name": member.name,
            "birth_date": member.birth_date,
            "relation": member.relation,
            "sex": member.sex,
        }
        row.update((name, getattr(member, name)) for name in MEMBER_SURVEY_FIELDS)
        out.append(row)
    return out


def household_for_survey(household: Household) -> dict[str, Any]:
    """The household fields a roster prefill rule may read."""
    return {name: getattr(household, name) for name in HOUSEHOLD_SURVEY_FIELDS}


def last_valid_visit(household_id: int) -> Visit | None:
    """The household's latest visit (by end time) that was not judged invalid."""
    return db.session.scalar(
        select(Visit)
        .where(Visit.household_id == household_id, Visit.review_status != ReviewStatus.INVALID)
        .order_by(Visit.ended_at.desc(), Visit.id.desc())
        .limit(1)
    )


def get_visit_form(
    *, actor: Actor, household_id: int | None = None, token: str | None = None
) -> dict[str, Any]:
    """The current survey with the household, its members and suggested answers."""
    if (household_id is None) == (token is None):
        raise ValueError("pass exactly one of household_id and token")
    require_authenticated(actor)
    if token is not None:
        household = find_card(token=token).household
        if not can_read_household(actor, household):
            raise DomainError("household.not_found")
    else:
        household = load_household_for(actor, household_id)
    form = require_current_form()
    visit_date = china_today()
    unmask = can_see_pii(actor, household)
    if unmask:
        record_pii_read(actor=actor, household=household, via="visit_form", fields=("phone",))
    last = last_valid_visit(household.id)
    suggestions = survey.prefill(
        form.definition,
        household=household_for_survey(household),
        members=members_for_survey(household),
        last_answers=last.answers if last is not None else None,
        visit_date=visit_date,
    )
    return {
        "form": {
            "id": form.id,
            "version": form.version,
            "title": form.title,
            "definition": form.definition,
        },
        "household": household_summary(household, unmask=unmask),
        "unmasked": unmask,
        "members": [
            {
                "id": m.id,
                "name": m.name,
                "relation": m.relation,
                "sex": m.sex,
                "birth_date": m.birth_date,
                "age": age_on(m.birth_date, visit_date) if m.birth_date else None,
            }
            for m in household.members
        ],
        "prefill": suggestions,
        "last_visit": (
            {"id": last.id, "ended_at": last.ended_at, "form_version": last.form_version.version}
            if last is not None
            else None
        ),
        "visit_date": visit_date,
    }
