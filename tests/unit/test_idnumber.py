"""GB 11643 ID numbers and masking."""

from __future__ import annotations

from datetime import date

import pytest

from backend.services import pii
from backend.services.idnumber import (
    birth_date_of,
    check_digit,
    id_number_problem,
    is_valid_id_number,
    make_id_number,
    sex_of,
)

# Published examples with known check characters (including X).
VALID = ["11010519491231002X", "440524188001010014", "11010119900307803X"]


@pytest.mark.parametrize("value", VALID)
def test_known_valid_numbers(value):
    assert is_valid_id_number(value)
    assert id_number_problem(value) is None


def test_lower_case_x_is_accepted():
    assert is_valid_id_number("11010519491231002x")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("110105194912310021", "身份证号校验位错误"),
        ("11010519491231002", "身份证号应为18位（最后一位可以是X）"),
        ("1101051949123100X2", "身份证号应为18位（最后一位可以是X）"),
        ("110105194902300028", "身份证号中的出生日期无效"),
    ],
)
def test_invalid_numbers_explain_why(value, message):
    assert id_number_problem(value) == message


def test_check_digit_rejects_bad_input():
    with pytest.raises(ValueError):
        check_digit("123")


def test_make_id_number_round_trips():
    value = make_id_number(area="500224", born=date(1985, 6, 9), sequence=123)
    assert is_valid_id_number(value)
    assert birth_date_of(value) == date(1985, 6, 9)
    assert sex_of(value) == "M"  # sequence 123: odd 17th digit


def test_masks():
    assert pii.mask_id_number("500224198506091234") == "500224********1234"
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_household_number("HH00001234") == "******1234"
    assert pii.mask_health("高血压") == "已登记"
    assert pii.mask_health(None) is None
    assert pii.mask_id_number(None) is None
