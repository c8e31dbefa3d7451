"""Survey engine: definition validation, the default definition, answer validation, conditions."""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

import pytest

from backend.models.office import STANDARD_OFFICES
from backend.services.survey import (
    OFFICE_CODES,
    QUESTION_TYPES,
    clean_answers,
    evaluate_checks,
    load_default_definition,
    validate_answers,
    validate_definition,
)
from backend.services.survey.conditions import Scope, evaluate
from tests.unit.test_survey_fixtures import MEMBERS, PHOTO_UUID, VISIT, member, passing_answers

CJK = re.compile(r"[\u4e00-\u9fff]")


def small() -> dict[str, Any]:
    """A small valid definition using every type and most features."""
    return {
        "title": "测试调查表",
        "settings": {"line": {"label": "收入线", "default": 10}},
        "sections": [
            {
                "key": "a",
                "label": "甲组",
                "questions": [
                    {
                        "key": "q_bool",
                        "label": "是否",
                        "type": "bool",
                        "required": True,
                        "check": {
                            "key": "c_bool",
                            "label": "是否检查",
                            "area": "a",
                            "offices": ["mzb"],
                            "rule": {"op": "eq", "key": "q_bool", "value": True},
                        },
                    },
                    {
                        "key": "q_single",
                        "label": "单选",
                        "type": "single",
                        "options": [{"value": "x", "label": "叉"}, {"value": "y", "label": "歪"}],
                        "when": {"op": "eq", "key": "q_bool", "value": True},
                        "required": True,
                    },
                    {
                        "key": "q_num",
                        "label": "数值",
                        "type": "number",
                        "min": 0,
                        "max": 100,
                        "check": {
                            "key": "c_num",
                            "label": "数值检查",
                            "area": "a",
                            "offices": ["fpb", "wjb"],
                            "rule": {"op": "gte", "key": "q_num", "setting": "line"},
                        },
                    },
                    {
                        "key": "q_member",
                        "label": "成员题",
                        "type": "bool",
                        "per_member": True,
                        "member_filter": {"op": "gte", "fact": "age", "value": 18},
                        "required": True,
                        "prefill": {"from": "member", "field": "medical_insurance"},
                    },
                    {
                        "key": "q_multi",
                        "label": "多选",
                        "type": "multi",
                        "options": [{"value": "m1", "label": "一"}, {"value": "m2", "label": "二"}],
                        "required": {
                            "op": "any_member",
                            "of": {"op": "eq", "key": "q_member", "value": False},
                        },
                    },
                ],
            },
            {
                "key": "b",
                "label": "乙组",
                "questions": [
                    {"key": "q_date", "label": "日期", "type": "date"},
                    {"key": "q_text", "label": "文字", "type": "text", "max_length": 5},
                    {
                        "key": "q_photo",
                        "label": "照片",
                        "type": "photo",
                        "max_count": 2,
                        "prefill": False,
                    },
                    {"key": "q_int", "label": "整数", "type": "int", "min": 1, "max": 3},
                ],
            },
        ],
    }


def _q(d: dict[str, Any], key: str) -> dict[str, Any]:
    for section in d["sections"]:
        for question in section["questions"]:
            if question["key"] == key:
                return question
    raise KeyError(key)


def _set(key: str, field: str, value: Any):
    def mutate(d):
        _q(d, key)[field] = value

    return mutate


def _deep(levels: int) -> dict[str, Any]:
    cond: dict[str, Any] = {"op": "eq", "key": "q_bool", "value": True}
    for _ in range(levels):
        cond = {"op": "not", "of": cond}
    return cond


def _dup_question(d):
    d["sections"][1]["questions"].append(copy.deepcopy(_q(d, "q_bool")) | {"check": None})


def _dup_check(d):
    _q(d, "q_num")["check"]["key"] = "c_bool"


INVALID = [
    (lambda d: d.update(title=" "), "调查表缺少标题（title）。"),
    (lambda d: d.update(sections=[]), "调查表至少应有一个分组（sections）。"),
    (lambda d: d.update(foo=1), "调查表定义中有未知的字段“foo”。"),
    (lambda d: d.update(version=0), "调查表版本号（version）应为正整数。"),
    (lambda d: d.update(format=2), "调查表定义格式版本（format）应为1。"),
    (lambda d: d["sections"][1].update(key="a"), "分组编码“a”重复。"),
    (lambda d: d["sections"][1].update(key="B-1"), "编码应由小写字母、数字和下划线组成"),
    (lambda d: d["sections"][1].update(label=""), "分组“b”：缺少名称（label）。"),
    (lambda d: d["sections"][1].update(questions=[]), "分组“b”：至少应有一个问题。"),
    (_dup_question, "问题编码“q_bool”重复。"),
    (_set("q_text", "key", "q.text"), "分组“b”第2题：问题编码应由小写字母"),
    (_set("q_bool", "type", "yesno"), "问题“q_bool”：未知的题型“yesno”"),
    (_set("q_bool", "label", ""), "问题“q_bool”：缺少题目文字（label）。"),
    (_set("q_bool", "requird", True), "问题“q_bool”：未知的字段“requird”。"),
    (_set("q_bool", "per_member", "yes"), "问题“q_bool”：per_member 应为 true 或 false。"),
    (_set("q_single", "options", []), "问题“q_single”：单选题至少应有一个选项（options）。"),
    (
        _set("q_single", "options", [{"value": "x", "label": "叉"}, {"value": "x", "label": "叉"}]),
        "问题“q_single”：选项编码“x”重复。",
    ),
    (
        _set("q_single", "options", [{"value": "x", "label": "叉"}, {"value": "y"}]),
        "问题“q_single”：第2个选项应为含 value（编码）和 label（名称）的对象。",
    ),
    (
        _set("q_bool", "options", [{"value": "x", "label": "叉"}]),
        "问题“q_bool”：只有单选题和多选题可以设置选项。",
    ),
    (_set("q_num", "min", 200), "问题“q_num”：最小值不能大于最大值。"),
    (_set("q_num", "max", "100"), "问题“q_num”：取值范围（min/max）应为数字。"),
    (_set("q_text", "min", 1), "问题“q_text”：只有整数题和数值题可以设置取值范围（min/max）。"),
    (_set("q_num", "max_length", 5), "问题“q_num”：数值题不能设置 max_length。"),
    (_set("q_photo", "max_count", 0), "问题“q_photo”：max_count 应为正整数。"),
    (
        _set("q_single", "when", {"op": "eq", "key": "nope", "value": True}),
        "问题“q_single”的显示条件：引用了不存在的问题“nope”。",
    ),
    (
        _set("q_single", "when", {"op": "eq", "key": "q_num", "value": 1}),
        "问题“q_single”的显示条件：只能引用排在本题之前的问题，不能引用“q_num”。",
    ),
    (
        _set("q_single", "when", {"op": "answered", "key": "q_single"}),
        "只能引用排在本题之前的问题，不能引用“q_single”。",
    ),
    (
        _set("q_single", "when", {"op": "between", "key": "q_bool", "value": [1, 2]}),
        "问题“q_single”的显示条件：未知的条件运算“between”。",
    ),
    (_set("q_single", "when", "q_bool == True"), "问题“q_single”的显示条件：条件应为对象。"),
    (_set("q_single", "when", {"op": "all", "of": []}), "“all”条件的 of 应为非空列表。"),
    (
        _set("q_single", "when", {"op": "not", "of": [{"op": "answered", "key": "q_bool"}]}),
        "“not”条件的 of 应为一个条件。",
    ),
    (
        _set("q_single", "when", {"op": "eq", "key": "q_bool", "fact": "age", "value": 1}),
        "须指定 key（问题）或 fact（成员信息）其中之一。",
    ),
    (
        _set("q_single", "when", {"op": "eq", "key": "q_bool"}),
        "“eq”条件须指定 value 或 setting 其中之一。",
    ),
    (
        _set("q_single", "when", {"op": "eq", "key": "q_bool", "value": True, "kye": 1}),
        "条件中有未知的字段“kye”。",
    ),
    (
        _set("q_single", "when", {"op": "gte", "fact": "age", "value": 6}),
        "只有按成员填写的问题或成员条件中可以引用成员信息“age”。",
    ),
    (
        _set("q_member", "member_filter", {"op": "gte", "fact": "height", "value": 6}),
        "问题“q_member”的成员筛选条件：未知的成员信息“height”。",
    ),
    (
        _set("q_multi", "required", {"op": "eq", "key": "q_member", "value": False}),
        "整户条件不能直接引用按成员填写的问题“q_member”，请使用 any_member 或 all_members。",
    ),
    (
        _set("q_bool", "member_filter", {"op": "gte", "fact": "age", "value": 6}),
        "问题“q_bool”：只有按成员填写的问题可以设置成员筛选条件（member_filter）。",
    ),
    (
        _set("q_member", "member_filter", {"op": "eq", "key": "q_bool", "value": True}),
        "成员筛选条件只能引用成员信息（fact），不能引用问题“q_bool”。",
    ),
    (
        _set("q_num", "when", {"op": "eq", "key": "q_single", "value": "z"}),
        "比较值应为该题的选项：'z'。",
    ),
    (
        _set("q_single", "when", {"op": "eq", "key": "q_bool", "value": "是"}),
        "比较值应为 true 或 false：'是'。",
    ),
    (_set("q_num", "when", {"op": "lt", "key": "q_single", "value": 3}), "“lt”只能用于数值。"),
    (
        _set("q_num", "when", {"op": "has", "key": "q_single", "value": "x"}),
        "“has”只能用于多选题。",
    ),
    (
        _set("q_num", "when", {"op": "in", "key": "q_single", "value": "x"}),
        "“in”条件的 value 应为非空列表。",
    ),
    (
        _set("q_text", "when", {"op": "eq", "key": "q_date", "value": "2020-13-01"}),
        "比较值应为YYYY-MM-DD格式的日期",
    ),
    (
        _set("q_text", "when", {"op": "gte", "key": "q_num", "setting": "nope"}),
        "引用了未声明的设置项“nope”。",
    ),
    (
        _set("q_num", "when", {"op": "eq", "key": "q_bool", "setting": "line"}),
        "只有数值比较可以引用设置项。",
    ),
    (_set("q_single", "when", _deep(20)), "条件嵌套层数过多"),
    (
        _set("q_single", "required", {"op": "eq", "key": "q_zz", "value": 1}),
        "问题“q_single”的必填条件：引用了不存在的问题“q_zz”。",
    ),
    (lambda d: _q(d, "q_bool")["check"].pop("area"), "检查项“c_bool”：缺少所属领域（area）。"),
    (
        lambda d: _q(d, "q_bool")["check"].update(area="zz"),
        "检查项“c_bool”：所属领域“zz”不是本表的分组编码。",
    ),
    (
        lambda d: _q(d, "q_bool")["check"].pop("offices"),
        "检查项“c_bool”：缺少责任单位（offices）。",
    ),
    (
        lambda d: _q(d, "q_bool")["check"].update(offices=["mzb", "xyz"]),
        "检查项“c_bool”：未知的责任单位编码“xyz”。",
    ),
    (
        lambda d: _q(d, "q_bool")["check"].update(offices=["mzb", "mzb"]),
        "检查项“c_bool”：责任单位重复。",
    ),
    (lambda d: _q(d, "q_bool")["check"].pop("rule"), "检查项“c_bool”：缺少判定规则（rule）。"),
    (lambda d: _q(d, "q_bool")["check"].update(label=""), "检查项“c_bool”：缺少名称（label）。"),
    (
        lambda d: _q(d, "q_bool")["check"].update(key="C 1"),
        "问题“q_bool”的检查项：检查项编码（key）应由小写字母",
    ),
    (
        lambda d: _q(d, "q_bool")["check"].update(rule={"op": "eq", "key": "q_bool", "value": 1}),
        "检查项“c_bool”的判定规则：比较值应为 true 或 false：1。",
    ),
    (_set("q_bool", "check", "q_bool"), "问题“q_bool”的检查项应为对象。"),
    (_dup_check, "检查项编码“c_bool”重复。"),
    (
        _set("q_bool", "prefill", {"from": "member", "field": "medical_insurance"}),
        "按成员填写的问题只能从成员信息（member）预填",
    ),
    (
        _set("q_bool", "prefill", {"from": "household", "field": "is_rich"}),
        "预填规则引用了未知的花名册字段“is_rich”。",
    ),
    (
        _set("q_bool", "prefill", {"from": "household", "field": "is_dibao", "transform": "map"}),
        "预填转换 map 须提供非空的对照表（map）。",
    ),
    (
        _set("q_bool", "prefill", {"from": "members", "field": "schooling", "transform": "count"}),
        "计数预填只能用于整数题或数值题。",
    ),
    (
        _set(
            "q_single",
            "prefill",
            {"from": "household", "field": "category", "transform": "present"},
        ),
        "present 预填只能用于是否题。",
    ),
    (
        _set("q_bool", "prefill", {"from": "village", "field": "x"}),
        "预填来源（from）应为 member、household 或 members。",
    ),
    (_set("q_bool", "prefill", "roster"), "预填（prefill）应为 true、false 或预填规则对象。"),
    (
        lambda d: d.update(settings={"line": {"label": "收入线", "default": "6000"}}),
        "设置项“line”：默认值（default）应为数字。",
    ),
]


def test_small_definition_is_valid():
    assert validate_definition(small()) == []


def test_definition_must_be_an_object():
    assert validate_definition([]) == ["调查表定义应为JSON对象。"]


@pytest.mark.parametrize(("mutate", "message"), INVALID)
def test_structural_errors_are_refused_in_chinese(mutate, message):
    definition = small()
    mutate(definition)
    errors = validate_definition(definition)
    assert any(message in e for e in errors), errors
    assert all(CJK.search(e) for e in errors)


def test_custom_office_codes():
    definition = small()
    _q(definition, "q_bool")["check"]["offices"] = ["xzzx"]
    assert validate_definition(definition)
    assert validate_definition(definition, office_codes=["xzzx", "fpb", "wjb"]) == []


# ----- the default definition -----------------------------------------------------------------

DEFAULT_CHECKS = {
    "food_secure": ("food_clothing", ["mzb"]),
    "clothing_secure": ("food_clothing", ["mzb"]),
    "compulsory_schooling": ("schooling", ["mzb"]),
    "college_aid": ("schooling", ["mzb"]),
    "basic_medical_insurance": ("medical", ["sbs", "wjb"]),
    "serious_illness_insurance": ("medical", ["sbs", "wjb"]),
    "medical_aid": ("medical", ["wjb", "sbs"]),
    "family_doctor": ("medical", ["wjb"]),
    "inpatient_self_pay": ("medical", ["wjb", "sbs"]),
    "outpatient_self_pay": ("medical", ["wjb", "sbs"]),
    "housing_safety": ("housing", ["ghjs"]),
    "water_quantity": ("water", ["nyfw"]),
    "water_quality": ("water", ["nyfw"]),
    "water_reliability": ("water", ["nyfw"]),
    "water_convenience": ("water", ["nyfw"]),
    "assistance_enrolled": ("basic_living", ["mzb"]),
    "temporary_relief": ("basic_living", ["mzb"]),
    "employment": ("jobs", ["sbs"]),
    "income_above_line": ("income", ["fpb"]),
    "microloan_amount": ("microloan", ["fpb"]),
    "microloan_overdue": ("microloan", ["fpb"]),
    "microloan_use": ("microloan", ["fpb"]),
    "collective_linkage": ("industry", ["nyfw"]),
    "sanitary_household": ("environment", ["nyfw"]),
    "beautiful_courtyard": ("environment", ["nyfw"]),
    "policy_awareness": ("policy", ["fpb", "wjb"]),
}


def _questions(definition):
    return [q for s in definition["sections"] for q in s["questions"]]


def test_default_definition_validates():
    definition = load_default_definition()
    assert validate_definition(definition) == []
    assert definition["version"] == 1
    assert 35 <= len(_questions(definition)) <= 45


def test_default_definition_checks_areas_and_offices():
    checks = {
        q["check"]["key"]: (q["check"]["area"], q["check"]["offices"])
        for q in _questions(load_default_definition())
        if "check" in q
    }
    assert checks == DEFAULT_CHECKS


def test_default_definition_is_in_chinese_and_uses_every_type():
    questions = _questions(load_default_definition())
    assert {q["type"] for q in questions} == set(QUESTION_TYPES)
    for q in questions:
        assert CJK.search(q["label"])
        for option in q.get("options", []):
            assert CJK.search(option["label"])
        if "check" in q:
            assert CJK.search(q["check"]["label"]) and CJK.search(q["check"]["problem"])


def test_default_photo_slots():
    photos = {q["key"]: q for q in _questions(load_default_definition()) if q["type"] == "photo"}
    assert list(photos) == ["photo_house", "photo_water", "photo_helper_with_head"]
    assert [q.get("required", False) for q in photos.values()] == [True, False, True]
    assert all(q["prefill"] is False for q in photos.values())


def test_load_default_definition_returns_a_fresh_copy():
    first = load_default_definition()
    first["title"] = "改过"
    assert load_default_definition()["title"] == "户户清走访调查表"


def test_office_codes_match_the_offices_table():
    assert list(OFFICE_CODES) == [code for code, _ in STANDARD_OFFICES]


# ----- answer validation ----------------------------------------------------------------------


def _errors(answers, members=MEMBERS, definition=None):
    definition = definition or load_default_definition()
    return validate_answers(definition, answers, members=members, visit_date=VISIT)


def test_missing_required_answers():
    errors = _errors({})
    assert errors["water_quantity"] == ["必填项不能为空。"]
    assert errors["photo_house"] == ["必填项不能为空。"]
    assert errors["school_status.3"] == ["必填项不能为空。"]  # the only child aged 6-15
    assert errors["medical_insurance.1"] == ["必填项不能为空。"]
    assert "photo_water" not in errors  # optional slot
    assert "school_status.1" not in errors  # adults are not asked
    assert "microloan_amount" not in errors  # asked only with a loan (unknown yet)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("food_secure", "是", "应为是或否。"),
        ("food_secure", 1, "应为是或否。"),
        ("water_outage_days", 3.5, "应为整数。"),
        ("water_outage_days", True, "应为整数。"),
        ("water_outage_days", "3", "应为整数。"),
        ("water_outage_days", -1, "不能小于0。"),
        ("water_outage_days", 400, "不能大于366。"),
        ("income_per_capita", "9800", "应为数字。"),
        ("income_per_capita", float("nan"), "应为数字。"),
        ("outpatient_self_pay_percent", 100.5, "不能大于100。"),
        (
            "house_grade",
            "E",
            "取值应为以下之一：A级（安全）、B级（基本安全）、C级（局部危险）、D级（整体危险）。",
        ),
        ("house_grade", ["A"], "取值应为以下之一："),
        ("industry_projects", "planting", "应为多选列表。"),
        ("industry_projects", ["planting", "mining"], "取值应为以下之一："),
        ("industry_projects", ["planting", "planting"], "选项不能重复。"),
        ("family_doctor_name", 12, "应为文字。"),
        ("family_doctor_name", "医" * 65, "长度不能超过64个字。"),
        ("photo_house", 101, "应为照片编号列表。"),
        ("photo_house", [0], "照片编号无效：0。"),
        ("photo_house", ["abc"], "照片编号无效：abc。"),
        ("photo_house", [True], "照片编号无效：True。"),
        ("photo_house", [5, 5], "照片不能重复。"),
        ("photo_house", [PHOTO_UUID, PHOTO_UUID.upper()], "照片不能重复。"),
        ("photo_house", [1, 2, 3, 4, 5, 6, 7], "最多上传6张照片。"),
    ],
)
def test_type_and_range_errors(key, value, message):
    errors = _errors(passing_answers(**{key: value}))
    assert list(errors) == [key]
    assert errors[key] == [message] or errors[key][0].startswith(message)


def test_photo_ids_may_be_ints_or_uuids():
    answers = passing_answers(photo_house=[7, PHOTO_UUID], photo_water=[PHOTO_UUID.upper()])
    assert _errors(answers) == {}


@pytest.mark.parametrize("value", ["2020-6-1", "2020-02-30", "20200601", 20200601])
def test_date_format(value):
    answers = passing_answers(
        hardship=True,
        hardship_types=["accident"],
        hardship_date=value,
        temporary_relief="received",
        remarks="三月摔伤",
    )
    assert _errors(answers) == {"hardship_date": ["日期格式应为YYYY-MM-DD，且须为有效日期。"]}


def test_unknown_questions_are_refused():
    assert _errors(passing_answers(water_colour="清")) == {
        "water_colour": ["未知的问题：water_colour"]
    }


def test_answers_must_be_an_object():
    errors = _errors(["food_secure"])
    assert errors["_schema"] == ["答卷应为JSON对象（问题编码对应答案）。"]


def test_when_false_rejects_an_answer_and_accepts_empty():
    errors = _errors(passing_answers(hospitalized=False, inpatient_self_pay_percent=5))
    assert errors == {"inpatient_self_pay_percent": ["本题当前不适用，请不要填写。"]}
    for empty in (None, "", []):
        answers = passing_answers(hospitalized=False)
        answers["inpatient_self_pay_percent"] = empty
        assert _errors(answers) == {}


def test_when_true_makes_the_question_asked():
    errors = _errors(passing_answers(hospitalized=True))
    assert errors == {"inpatient_self_pay_percent": ["必填项不能为空。"]}
    assert _errors(passing_answers(hospitalized=True, inpatient_self_pay_percent=8)) == {}


def test_required_if_true_and_false():
    hardship = {
        "hardship": True,
        "hardship_types": ["serious_illness", "disaster"],
        "hardship_date": "2020-05-03",
        "temporary_relief": "applying",
    }
    assert _errors(passing_answers(**hardship)) == {"remarks": ["必填项不能为空。"]}
    assert _errors(passing_answers(**hardship, remarks="户主突发脑梗住院")) == {}
    # Not required without hardship, but still accepted (required-if is not show-if).
    assert _errors(passing_answers(remarks="")) == {}
    assert _errors(passing_answers(remarks="房前屋后整洁")) == {}


def test_required_if_on_a_small_definition_with_any_member():
    definition = small()
    adults = [member(1, "1980-01-01"), member(2, "1985-01-01"), member(3, "2015-01-01")]
    base = {"q_bool": False, "q_member": {"1": True, "2": True}}
    assert _errors(base, adults, definition) == {}
    flagged = {"q_bool": False, "q_member": {"1": True, "2": False}}
    assert _errors(flagged, adults, definition) == {"q_multi": ["必填项不能为空。"]}


def test_per_member_errors_are_keyed_by_member():
    answers = passing_answers(
        school_status={"3": "on_holiday", "1": "in_school", "99": "in_school"},
        medical_insurance={"1": True, "2": "是", "3": True},
    )
    errors = _errors(answers)
    assert errors == {
        "school_status.3": ["取值应为以下之一：在校就读、送教上门、未在校（辍学或休学）。"],
        "school_status.1": ["该成员不适用本题，请不要填写。"],
        "school_status.99": ["不是本户的家庭成员。"],
        "medical_insurance.2": ["应为是或否。"],
        "medical_insurance.4": ["必填项不能为空。"],
    }


def test_per_member_answer_must_be_a_mapping():
    errors = _errors(passing_answers(medical_insurance=[True, True, True, True]))
    assert errors == {"medical_insurance": ["应按家庭成员分别填写（成员编号对应答案）。"]}


def test_member_ids_may_be_ints_and_empty_values_for_others_are_fine():
    answers = passing_answers(school_status={3: "in_school", 1: None})
    assert _errors(answers) == {}


def test_per_member_when_uses_the_same_member():
    answers = passing_answers(school_status={"3": "out_of_school"})
    assert _errors(answers) == {"out_of_school_reason.3": ["必填项不能为空。"]}
    answers["out_of_school_reason"] = {"3": "health"}
    assert _errors(answers) == {}


def test_member_filter_age_is_on_the_visit_date():
    # Turns 6 on the visit date: asked; turned 16 the day before: not asked.
    members = [
        member(1, "1980-01-01", relation="户主"),
        member(5, "2014-06-01"),
        member(6, "2004-05-31"),
    ]
    errors = _errors({}, members)
    assert "school_status.5" in errors
    assert "school_status.6" not in errors
    assert "employment.6" in errors  # 16: working age


def test_member_without_birth_date_is_outside_age_filters():
    members = [member(1, None, relation="户主")]
    errors = _errors({}, members)
    assert "medical_insurance.1" in errors
    assert "employment.1" not in errors


def test_clean_answers_keeps_only_applicable_valid_answers():
    answers = passing_answers(
        hospitalized=False,
        inpatient_self_pay_percent=5,
        water_outage_days="3",
        school_status={3: "in_school", 1: "in_school"},
        remarks="",
    )
    cleaned = clean_answers(load_default_definition(), answers, members=MEMBERS, visit_date=VISIT)
    assert "inpatient_self_pay_percent" not in cleaned
    assert "water_outage_days" not in cleaned
    assert "remarks" not in cleaned
    assert cleaned["school_status"] == {"3": "in_school"}
    assert cleaned["food_secure"] is True


def test_visit_date_must_be_a_date():
    with pytest.raises(ValueError):
        validate_answers(load_default_definition(), {}, members=MEMBERS, visit_date="01/06/2020")


# ----- the condition language -----------------------------------------------------------------


def _scope(values, per_member=(), members=(), settings=None):
    return Scope(values, frozenset(per_member), list(members), settings or {})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"op": "eq", "key": "b", "value": True}, True),
        ({"op": "eq", "key": "one", "value": True}, False),  # 1 is not a yes
        ({"op": "ne", "key": "s", "value": "x"}, False),
        ({"op": "in", "key": "s", "value": ["x", "y"]}, True),
        ({"op": "in", "key": "m", "value": ["a"]}, None),  # a list is not a scalar
        ({"op": "has", "key": "m", "value": "b"}, True),
        ({"op": "has", "key": "m", "value": ["c", "a"]}, True),
        ({"op": "has", "key": "m", "value": "c"}, False),
        ({"op": "lt", "key": "n", "value": 5}, True),
        ({"op": "gte", "key": "n", "setting": "line"}, False),
        ({"op": "lte", "key": "s", "value": 5}, None),
        ({"op": "eq", "key": "missing", "value": 1}, None),
        ({"op": "answered", "key": "missing"}, False),
        ({"op": "answered", "key": "blank"}, False),
        ({"op": "answered", "key": "n"}, True),
        ({"op": "not", "of": {"op": "eq", "key": "missing", "value": 1}}, None),
        (
            {
                "op": "all",
                "of": [
                    {"op": "answered", "key": "missing"},
                    {"op": "eq", "key": "missing", "value": 1},
                ],
            },
            False,
        ),
        (
            {
                "op": "all",
                "of": [
                    {"op": "eq", "key": "b", "value": True},
                    {"op": "eq", "key": "missing", "value": 1},
                ],
            },
            None,
        ),
        (
            {
                "op": "any",
                "of": [
                    {"op": "eq", "key": "missing", "value": 1},
                    {"op": "eq", "key": "b", "value": True},
                ],
            },
            True,
        ),
        (
            {
                "op": "any",
                "of": [
                    {"op": "eq", "key": "missing", "value": 1},
                    {"op": "eq", "key": "b", "value": False},
                ],
            },
            None,
        ),
        ({"op": "any_member", "of": {"op": "eq", "key": "pm", "value": False}}, True),
        ({"op": "all_members", "of": {"op": "eq", "key": "pm", "value": True}}, False),
        ({"op": "all_members", "of": {"op": "gte", "fact": "age", "value": 0}}, True),
        ({"op": "any_member", "of": {"op": "eq", "fact": "relation", "value": "户主"}}, True),
        ({"op": "eq", "fact": "age", "value": 1}, None),  # no member here
    ],
)
def test_condition_evaluation(condition, expected):
    members = [{"id": "1", "age": 40, "relation": "户主"}, {"id": "2", "age": 8}]
    scope = _scope(
        {
            "b": True,
            "one": 1,
            "s": "x",
            "m": ["a", "b"],
            "n": 3,
            "blank": "  ",
            "pm": {"1": True, "2": False},
        },
        per_member={"pm"},
        members=members,
        settings={"line": 6000},
    )
    assert evaluate(condition, scope) is expected


def test_member_context_reads_that_members_answer_and_household_answers():
    members = [{"id": "1", "age": 40}, {"id": "2", "age": 8}]
    scope = _scope({"pm": {"1": True}, "h": "x"}, per_member={"pm"}, members=members)
    cond = {
        "op": "all",
        "of": [{"op": "eq", "key": "pm", "value": True}, {"op": "eq", "key": "h", "value": "x"}],
    }
    assert evaluate(cond, scope, members[0]) is True
    assert evaluate(cond, scope, members[1]) is None
    assert evaluate({"op": "lt", "fact": "age", "value": 18}, scope, members[1]) is True


def test_date_answers_compare_for_equality():
    definition = small()
    _q(definition, "q_text")["when"] = {"op": "eq", "key": "q_date", "value": "2020-05-01"}
    assert validate_definition(definition) == []
    answers = {"q_bool": False, "q_member": {}, "q_date": "2020-05-02", "q_text": "多余"}
    errors = validate_answers(definition, answers, members=[], visit_date=date(2020, 6, 1))
    assert errors == {"q_text": ["本题当前不适用，请不要填写。"]}


def test_small_definition_checks_use_declared_setting_defaults():
    definition = small()
    answers = {"q_bool": True, "q_single": "x", "q_num": 9}
    results = evaluate_checks(definition, answers, members=[], visit_date=VISIT)
    assert [(r.key, r.status) for r in results] == [("c_bool", "pass"), ("c_num", "fail")]
    assert results[1].settings == {"line": 10}
    results = evaluate_checks(
        definition, answers, members=[], visit_date=VISIT, settings={"line": 9}
    )
    assert results[1].status == "pass"
