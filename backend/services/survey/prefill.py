"""Prefill: answers suggested from the roster and from the household's last visit.

Fewer forms for the grassroots (减少填表报数): what is already known is offered for the
helper to confirm instead of being asked again. The roster wins over the last visit when both
have a value: department data and rectified problems update the roster after a visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.services.survey.answers import value_errors
from backend.services.survey.common import (
    is_empty,
    iter_questions,
    member_facts,
    member_id,
    visit_day,
)
from backend.services.survey.conditions import Scope, evaluate

ROSTER = "roster"
LAST_VISIT = "last_visit"


def _map_key(value: Any) -> str:
    # JSON object keys are strings: roster booleans are looked up as "true"/"false".
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def roster_value(
    spec: Mapping[str, Any],
    *,
    household: Mapping[str, Any] | None,
    member: Mapping[str, Any] | None,
    members: Sequence[Mapping[str, Any]],
) -> Any:
    """The value a roster prefill rule yields; None when the roster says nothing."""
    source, name = spec["from"], spec["field"]
    transform = spec.get("transform", "value")
    if source == "members":
        found = [m.get(name) for m in members]
        if transform == "count":
            wanted = spec["values"]
            return sum(1 for v in found if not is_empty(v) and v in wanted)
        if transform == "any_present":
            # A roster records illnesses it knows of, not their absence: no illness listed says
            # nothing, and the last visit's answer is offered instead.
            return True if any(not is_empty(v) for v in found) else None
        return next((v for v in found if not is_empty(v)), None)  # "first"
    raw = (household or {}).get(name) if source == "household" else (member or {}).get(name)
    if transform == "present":
        return not is_empty(raw)
    if is_empty(raw):
        return None
    if transform == "map":
        return spec["map"].get(_map_key(raw))
    return raw


def _usable(question: Mapping[str, Any], value: Any) -> bool:
    return not is_empty(value) and not value_errors(question, value)


def prefill(
    definition: Mapping[str, Any],
    *,
    household: Mapping[str, Any] | None,
    members: Sequence[Mapping[str, Any]] | None,
    last_answers: Mapping[str, Any] | None,
    visit_date: Any,
) -> dict[str, Any]:
    """Suggested answers: {key: {"value", "source"}}; per member both are {member id: ...}."""
    day = visit_day(visit_date)
    facts = member_facts(members, day)
    last = last_answers if isinstance(last_answers, Mapping) else {}
    per_member = frozenset(
        q["key"] for _, q in iter_questions(definition) if q.get("per_member") is True
    )
    values: dict[str, Any] = {}
    scope = Scope(values, per_member, facts)
    out: dict[str, Any] = {}
    for _, question in iter_questions(definition):
        spec = question.get("prefill", True)
        if spec is False:
            continue
        rule = spec if isinstance(spec, Mapping) else None
        key = question["key"]
        previous = last.get(key)
        if key in per_member:
            previous = (
                {member_id(k): v for k, v in previous.items()}
                if isinstance(previous, Mapping)
                else {}
            )
            suggested: dict[str, Any] = {}
            sources: dict[str, str] = {}
            for member in facts:
                if not _offered(question, scope, member):
                    continue
                mid = member["id"]
                found = _pick(question, rule, previous.get(mid), household, member, facts)
                if found:
                    suggested[mid], sources[mid] = found
            values[key] = suggested
            if suggested:
                out[key] = {"value": suggested, "source": sources}
        elif _offered(question, scope, None):
            found = _pick(question, rule, previous, household, None, facts)
            if found:
                values[key] = found[0]
                out[key] = {"value": found[0], "source": found[1]}
    return out


def _offered(question: Mapping[str, Any], scope: Scope, member: Mapping[str, Any] | None) -> bool:
    # Unlike answer validation, an unknown "when" keeps the suggestion: the question it depends
    # on may simply have no suggestion yet. Only a definitely false condition drops it.
    if (
        member is not None
        and "member_filter" in question
        and evaluate(question["member_filter"], scope, member) is not True
    ):
        return False
    return not ("when" in question and evaluate(question["when"], scope, member) is False)


def _pick(
    question: Mapping[str, Any],
    rule: Mapping[str, Any] | None,
    previous: Any,
    household: Mapping[str, Any] | None,
    member: Mapping[str, Any] | None,
    facts: Sequence[Mapping[str, Any]],
) -> tuple[Any, str] | None:
    if rule is not None:
        value = roster_value(rule, household=household, member=member, members=facts)
        if _usable(question, value):
            return value, ROSTER
    if _usable(question, previous):
        return previous, LAST_VISIT
    return None
