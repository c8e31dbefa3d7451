"""Survey answers as a helper would give them: roster facts confirmed, the rest observed.

The phone renders the survey version the server sends and offers the prefilled suggestions. The
simulated helper accepts the roster's suggestions (减少填表报数), answers the rest with values
that stay stable for a household from one visit to the next (its income does not jump around),
varies what changes between visits (water outages, hygiene points), and now and then records a
real shortfall, so a few checks fail and open problems. Suggestions taken from the *last visit*
are not used: the answers then depend only on the seed and the roster, and running the same
simulation again replays identical bodies (the server answers "duplicate", not "conflict").

The survey engine (``backend.services.survey``, pure Python) applies the form's own
required-if and applicability rules, as the mini-program does before submit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from backend.services import survey

ROSTER = survey.ROSTER
HARDSHIP_REMARKS = (
    "户主今年住院一次，已申请临时救助，家庭生活基本稳定。",
    "家中遭受暴雨，房屋轻微受损，已报村委会。",
    "家庭成员意外受伤，医疗费用较高，需持续关注。",
)
PLAIN_REMARKS = ("", "", "家中一切正常。", "户主在家，了解政策。", "已告知家庭医生联系方式。")
JOBS = ("farming", "farming", "local", "migrant", "no_need")
PROJECTS = ("planting", "breeding", "processing", "tourism")


def questions(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The definition's questions in form order."""
    return [q for section in definition.get("sections", []) for q in section.get("questions", [])]


def photo_slots(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The photo questions of the form, in form order."""
    return [q for q in questions(definition) if q.get("type") == "photo"]


def _observed(q: dict, h: random.Random, v: random.Random, visit_date: date) -> Any:
    """A realistic answer to one question of the default survey (``h`` per household, ``v``
    per visit); other questions get a plain valid value for their type."""
    key = q["key"]
    values: dict[str, Callable[[], Any]] = {
        "school_status": lambda: "in_school",
        "out_of_school_reason": lambda: "health",
        "college_students": lambda: 0,
        "medical_aid": lambda: h.choice(("covered", "covered", "not_eligible")),
        "family_doctor_name": lambda: "测医生",
        "hospitalized": lambda: v.random() < 0.12,
        "inpatient_self_pay_percent": lambda: round(v.uniform(3, 10), 1),
        "outpatient_treated": lambda: h.random() < 0.25,
        "outpatient_self_pay_percent": lambda: round(v.uniform(5, 20), 1),
        "house_grade": lambda: h.choice("AAAB"),
        "water_outage_days": lambda: v.randint(0, 6),
        "water_fetch_minutes": lambda: h.randint(0, 15),
        "dibao_enrolled": lambda: False,
        "tekun_enrolled": lambda: False,
        "assistance_eligible_unenrolled": lambda: False,
        "hardship": lambda: v.random() < 0.08,
        "hardship_types": lambda: [v.choice(("serious_illness", "accident", "disaster"))],
        "hardship_date": lambda: (visit_date - timedelta(days=v.randint(5, 120))).isoformat(),
        "temporary_relief": lambda: v.choice(("received", "applying")),
        "employment": lambda: h.choice(JOBS),
        "income_per_capita": lambda: h.randrange(8000, 30000, 100),
        "has_microloan": lambda: h.random() < 0.15,
        "microloan_amount": lambda: h.choice((10000, 20000, 30000, 50000)),
        "microloan_overdue": lambda: False,
        "microloan_use": lambda: "production",
        "industry_projects": lambda: h.sample(PROJECTS, h.randint(0, 2)),
        "sanitary_points": lambda: v.randint(65, 95),
        "courtyard_points": lambda: v.randint(65, 95),
        "remarks": lambda: v.choice(PLAIN_REMARKS),
    }
    if key in values:
        return values[key]()
    kind = q.get("type")
    if kind == "bool":
        return True
    if kind == "single":
        return q["options"][0]["value"]
    if kind in ("int", "number"):
        return q.get("min", 0)
    if kind == "date":
        return visit_date.isoformat()
    if kind == "text":
        return ""
    return []  # multi, photo


def _add_shortfall(raw: dict[str, Any], adults: list[str], v: random.Random) -> None:
    """Record one real shortfall; each fails one check of the default survey."""
    keys = [
        k
        for k in (
            "water_outage_days",
            "water_fetch_minutes",
            "medical_aid",
            "house_grade",
            "income_per_capita",
            "sanitary_points",
        )
        if k in raw
    ]
    if adults and isinstance(raw.get("employment"), dict):
        keys.append("employment")
    if not keys:
        return  # another survey version: nothing we know how to fail
    match v.choice(keys):
        case "water_outage_days":
            raw["water_outage_days"] = v.randint(40, 90)
        case "water_fetch_minutes":
            raw["water_fetch_minutes"] = v.randint(25, 60)
        case "medical_aid":
            raw["medical_aid"] = "not_covered"
        case "house_grade":
            raw["house_grade"] = v.choice("CD")
            if "house_inhabited" in raw:
                raw["house_inhabited"] = True
        case "income_per_capita":
            raw["income_per_capita"] = v.randrange(3000, 5800, 100)
        case "sanitary_points":
            raw["sanitary_points"] = v.randint(30, 58)
        case "employment":
            raw["employment"][v.choice(adults)] = "seeking"


def build_answers(
    *,
    definition: Mapping[str, Any],
    prefill: Mapping[str, Any],
    members: Sequence[Mapping[str, Any]],
    visit_date: date,
    household_rng: random.Random,
    visit_rng: random.Random,
    photos: Mapping[str, list[Any]],
    shortfall: bool,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The answers to submit and the engine's validation errors (empty when valid).

    ``photos`` maps photo questions to photo refs (ids or client_uuids); a question the form
    does not ask at this visit is dropped with its photos.
    """
    engine_members = [
        {"id": m["id"], "birth_date": m.get("birth_date"), "relation": m.get("relation")}
        for m in members
    ]
    ids = [str(m["id"]) for m in members]
    raw: dict[str, Any] = {}
    for q in questions(definition):
        key = q["key"]
        if q.get("type") == "photo":
            raw[key] = list(photos.get(key, []))
            continue
        if q.get("per_member"):
            raw[key] = {mid: _observed(q, household_rng, visit_rng, visit_date) for mid in ids}
        else:
            raw[key] = _observed(q, household_rng, visit_rng, visit_date)
        _confirm_roster(raw, key, prefill.get(key))
    if raw.get("hardship") is True and "remarks" in raw:
        raw["remarks"] = visit_rng.choice(HARDSHIP_REMARKS)
    if shortfall:
        adults = [
            str(m["id"]) for m in members if m.get("age") is not None and 16 <= m["age"] <= 64
        ]
        _add_shortfall(raw, adults, visit_rng)
    answers = survey.clean_answers(definition, raw, members=engine_members, visit_date=visit_date)
    errors = survey.validate_answers(
        definition, answers, members=engine_members, visit_date=visit_date
    )
    return answers, errors


def _confirm_roster(raw: dict[str, Any], key: str, suggestion: Mapping[str, Any] | None) -> None:
    """Take the roster's suggestion for ``key`` (per member where the form asks per member)."""
    if not suggestion:
        return
    value, source = suggestion.get("value"), suggestion.get("source")
    if isinstance(source, Mapping):
        for member_id, member_source in source.items():
            if member_source == ROSTER and isinstance(raw.get(key), dict):
                raw[key][str(member_id)] = value[member_id]
    elif source == ROSTER:
        raw[key] = value
