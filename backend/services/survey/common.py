"""Shared vocabulary of the survey engine: types, codes, empty values, members and dates."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

QUESTION_TYPES = ("bool", "single", "multi", "int", "number", "text", "date", "photo")
CHOICE_TYPES = ("single", "multi")
NUMERIC_TYPES = ("int", "number")

# A copy of backend.models.office.STANDARD_OFFICES: the engine must import no model (a unit
# test keeps the two lists equal). Callers may pass the codes of the offices table instead.
OFFICE_CODES = ("mzb", "wjb", "sbs", "ghjs", "nyfw", "fpb", "jw")

# Keys are used in error keys such as "school_status.12", so they never contain a dot.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Member facts a condition may read with {"fact": ...}, and their value kind. "age" is
# computed in full years on the visit date from birth_date.
MEMBER_FACTS = {
    "age": "int",
    "sex": "str",
    "relation": "str",
    "schooling": "str",
    "medical_insurance": "bool",
    "serious_illness_insurance": "bool",
    "doctor_name": "str",
    "disability": "str",
    "chronic_illness": "str",
    "migrant_work": "bool",
}

# Household fields a roster prefill may read.
HOUSEHOLD_FIELDS = {
    "category": "str",
    "poverty_status": "str",
    "monitor_type": "str",
    "is_dibao": "bool",
    "is_tekun": "bool",
    "is_disabled": "bool",
    "is_monitored": "bool",
}


class _Missing:
    """The value of a question that has no (valid, applicable) answer."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def is_empty(value: Any) -> bool:
    """Whether an answer counts as not given: absent, None, blank text, empty list or mapping."""
    if value is None or value is MISSING:
        return True
    kind = type(value)
    # Numbers and yes/no answers first: most answers are, and this runs for every answer and
    # every condition operand of every visit.
    if kind is bool or kind is int or kind is float:
        return False
    if kind is str or isinstance(value, str):
        return not value.strip()
    # A tuple, not ``list | tuple | dict``: isinstance with a union type is slower, and this
    # runs for every answer of every visit.
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def is_number(value: Any) -> bool:
    """Whether a value is an int or a finite float (booleans are not numbers here)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return (
        isinstance(value, float) and value == value and value not in (float("inf"), -float("inf"))
    )


def parse_date(value: Any) -> date | None:
    """A date from a date, a datetime or a strict YYYY-MM-DD string; None when not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_PATTERN.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def visit_day(value: Any) -> date:
    """The visit date as a date; a programming error (ValueError) when it is not one."""
    day = parse_date(value)
    if day is None:
        raise ValueError(f"visit_date must be a date or YYYY-MM-DD, got {value!r}")
    return day


def age_on(born: date, day: date) -> int:
    """Age in full years on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def member_id(value: Any) -> str:
    """Member ids are compared and reported as strings (JSON object keys are strings)."""
    return str(value)


def member_facts(members: Sequence[Mapping[str, Any]] | None, day: date) -> list[dict[str, Any]]:
    """Members as fact dicts with a string ``id`` and the computed ``age`` (None if unknown)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for member in members or ():
        mid = member_id(member.get("id"))
        if mid in seen:
            continue
        seen.add(mid)
        facts = dict(member)
        facts["id"] = mid
        born = parse_date(member.get("birth_date"))
        facts["age"] = age_on(born, day) if born else None
        out.append(facts)
    return out


def iter_sections(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The sections of a (validated) definition."""
    yield from definition.get("sections") or ()


def iter_questions(definition: Mapping[str, Any]) -> Iterator[tuple[Mapping, Mapping]]:
    """(section, question) pairs of a (validated) definition, in form order."""
    for section in iter_sections(definition):
        for question in section.get("questions") or ():
            yield section, question


def option_values(question: Mapping[str, Any]) -> list[str]:
    """The option values of a choice question (malformed options are skipped)."""
    options = question.get("options")
    if not isinstance(options, list):
        return []
    return [
        o["value"] for o in options if isinstance(o, Mapping) and isinstance(o.get("value"), str)
    ]


def option_labels(question: Mapping[str, Any]) -> str:
    """The option labels of a choice question, joined for a Chinese message."""
    options = question.get("options")
    if not isinstance(options, list):
        return ""
    return "、".join(str(o.get("label", o.get("value"))) for o in options if isinstance(o, Mapping))


def setting_defaults(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The default value of every setting the definition declares."""
    return {name: spec.get("default") for name, spec in (definition.get("settings") or {}).items()}
