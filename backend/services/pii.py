"""Masking of personal data shown in lists and to roles that do not need it."""

from __future__ import annotations

MASKED_HEALTH = "已登记"


def mask_id_number(value: str | None) -> str | None:
    """Keep the area code and the last four characters: ``500224********1234``."""
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """Keep the first three and last four digits: ``138****1234``."""
    if not value:
        return value
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """Keep the family name only: ``张三丰`` → ``张**``."""
    if not value:
        return value
    return value[0] + "*" * max(len(value) - 1, 1)


def mask_household_number(value: str | None) -> str | None:
    """Show only the last four characters of a household number, for printed cards."""
    if not value:
        return value
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_health(value: str | None) -> str | None:
    """Say that a health fact is on record without saying what it is."""
    return MASKED_HEALTH if value else None
