"""Resident ID numbers (GB 11643-1999): checksum, masking and derived facts."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalise_id_number(value: str) -> str:
    """Strip spaces and upper-case the trailing x."""
    return value.strip().replace(" ", "").upper()


def id_number_problem(value: str) -> str | None:
    """Explain in Chinese why an ID number is invalid, or return None when it is valid."""
    value = normalise_id_number(value)
    if not _SHAPE.match(value):
        return "身份证号应为18位（最后一位可以是X）"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    if born.year < 1850 or born > date.today():
        return "身份证号中的出生日期无效"
    if check_digit(value[:17]) != value[17]:
        return "身份证号校验位错误"
    return None


def is_valid_id_number(value: str) -> bool:
    """True if ``value`` is a well-formed ID number with a correct check digit."""
    return id_number_problem(value) is None


def birth_date_of(value: str) -> date:
    """Birth date encoded in a valid ID number."""
    value = normalise_id_number(value)
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def sex_of(value: str) -> str:
    """'M' or 'F' from the 17th digit of a valid ID number."""
    return "M" if int(normalise_id_number(value)[16]) % 2 else "F"


def make_id_number(*, area: str, born: date, sequence: int) -> str:
    """Build a checksum-valid ID number (used for synthetic demo and test data)."""
    first17 = f"{area[:6]:0>6}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)
