"""Structural validation of a survey definition, and the default definition shipped as data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from backend.services.survey.common import (
    CHOICE_TYPES,
    HOUSEHOLD_FIELDS,
    KEY_PATTERN,
    MEMBER_FACTS,
    NUMERIC_TYPES,
    OFFICE_CODES,
    QUESTION_TYPES,
    is_number,
)
from backend.services.survey.conditions import ConditionContext, check_condition

DEFAULT_DEFINITION_PATH = Path(__file__).resolve().parents[2] / "data" / "survey_default_v1.json"

TYPE_LABELS = {
    "bool": "是否题",
    "single": "单选题",
    "multi": "多选题",
    "int": "整数题",
    "number": "数值题",
    "text": "文字题",
    "date": "日期题",
    "photo": "照片",
}

_TOP_FIELDS = {"format", "code", "version", "title", "description", "settings", "sections"}
_SECTION_FIELDS = {"key", "label", "description", "questions"}
_QUESTION_FIELDS = {
    "key",
    "label",
    "type",
    "help",
    "unit",
    "options",
    "min",
    "max",
    "max_length",
    "max_count",
    "required",
    "when",
    "per_member",
    "member_filter",
    "prefill",
    "check",
}
_CHECK_FIELDS = {"key", "label", "area", "offices", "rule", "problem"}
_PREFILL_FIELDS = {"from", "field", "transform", "map", "values"}
_TRANSFORMS = {
    "member": ("value", "present", "map"),
    "household": ("value", "present", "map"),
    "members": ("count", "any_present", "first"),
}


def load_default_definition() -> dict[str, Any]:
    """The default 户户清 survey definition (version 1), freshly parsed."""
    return json.loads(DEFAULT_DEFINITION_PATH.read_text(encoding="utf-8"))


def validate_definition(definition: Any, *, office_codes: Iterable[str] | None = None) -> list[str]:
    """Structural problems of a definition as Chinese messages; empty when it may be published."""
    offices = frozenset(OFFICE_CODES if office_codes is None else office_codes)
    errors: list[str] = []
    if not isinstance(definition, Mapping):
        return ["调查表定义应为JSON对象。"]
    for name in definition:
        if name not in _TOP_FIELDS:
            errors.append(f"调查表定义中有未知的字段“{name}”。")
    if definition.get("format", 1) != 1:
        errors.append("调查表定义格式版本（format）应为1。")
    if not _text(definition.get("title")):
        errors.append("调查表缺少标题（title）。")
    version = definition.get("version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        errors.append("调查表版本号（version）应为正整数。")
    settings = _check_settings(definition.get("settings"), errors)

    sections = definition.get("sections")
    if not isinstance(sections, list) or not sections:
        errors.append("调查表至少应有一个分组（sections）。")
        return errors
    questions: dict[str, Mapping[str, Any]] = {}
    order: list[str] = []
    section_keys: set[str] = set()
    for index, section in enumerate(sections, start=1):
        if not isinstance(section, Mapping):
            errors.append(f"第{index}个分组应为对象。")
            continue
        skey = section.get("key")
        where = f"分组“{skey}”" if isinstance(skey, str) else f"第{index}个分组"
        if not isinstance(skey, str) or not KEY_PATTERN.match(skey):
            errors.append(f"{where}：编码应由小写字母、数字和下划线组成，并以字母开头。")
        elif skey in section_keys:
            errors.append(f"分组编码“{skey}”重复。")
        else:
            section_keys.add(skey)
        if not _text(section.get("label")):
            errors.append(f"{where}：缺少名称（label）。")
        for name in section:
            if name not in _SECTION_FIELDS:
                errors.append(f"{where}：未知的字段“{name}”。")
        items = section.get("questions")
        if not isinstance(items, list) or not items:
            errors.append(f"{where}：至少应有一个问题。")
            continue
        for qindex, question in enumerate(items, start=1):
            if not isinstance(question, Mapping):
                errors.append(f"{where}第{qindex}题：问题应为对象。")
                continue
            qkey = question.get("key")
            if not isinstance(qkey, str) or not KEY_PATTERN.match(qkey):
                errors.append(
                    f"{where}第{qindex}题：问题编码应由小写字母、数字和下划线组成，并以字母开头。"
                )
                continue
            if qkey in questions:
                errors.append(f"问题编码“{qkey}”重复。")
                continue
            questions[qkey] = question
            order.append(qkey)

    check_keys: set[str] = set()
    for position, qkey in enumerate(order):
        question = questions[qkey]
        earlier = frozenset(order[:position])
        _check_question(question, questions, earlier, settings, errors)
        check = question.get("check")
        if check is not None:
            _check_check(question, check, questions, settings, section_keys, offices, errors)
            ckey = check.get("key") if isinstance(check, Mapping) else None
            if isinstance(ckey, str):
                if ckey in check_keys:
                    errors.append(f"检查项编码“{ckey}”重复。")
                check_keys.add(ckey)
    return errors


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_settings(settings: Any, errors: list[str]) -> frozenset[str]:
    if settings is None:
        return frozenset()
    if not isinstance(settings, Mapping):
        errors.append("设置项（settings）应为对象。")
        return frozenset()
    for name, spec in settings.items():
        if not isinstance(name, str) or not KEY_PATTERN.match(name):
            errors.append(f"设置项“{name}”：名称应由小写字母、数字和下划线组成。")
        elif not isinstance(spec, Mapping) or not _text(spec.get("label")):
            errors.append(f"设置项“{name}”：应有名称（label）。")
        elif not is_number(spec.get("default")):
            errors.append(f"设置项“{name}”：默认值（default）应为数字。")
    return frozenset(settings)


def _check_question(
    question: Mapping[str, Any],
    questions: Mapping[str, Mapping[str, Any]],
    earlier: frozenset[str],
    settings: frozenset[str],
    errors: list[str],
) -> None:
    key = question["key"]
    where = f"问题“{key}”"
    for name in question:
        if name not in _QUESTION_FIELDS:
            errors.append(f"{where}：未知的字段“{name}”。")
    if not _text(question.get("label")):
        errors.append(f"{where}：缺少题目文字（label）。")
    kind = question.get("type")
    if kind not in QUESTION_TYPES:
        errors.append(f"{where}：未知的题型“{kind}”，应为{'、'.join(QUESTION_TYPES)}之一。")
    per_member = question.get("per_member", False)
    if not isinstance(per_member, bool):
        errors.append(f"{where}：per_member 应为 true 或 false。")
        per_member = False
    _check_options(question, kind, where, errors)
    _check_bounds(question, kind, where, errors)

    def ctx(label: str, **kwargs: Any) -> ConditionContext:
        return ConditionContext(
            where=f"{where}的{label}", questions=questions, settings=settings, **kwargs
        )

    required = question.get("required", False)
    if not isinstance(required, bool):
        errors.extend(
            check_condition(required, ctx("必填条件", allowed_keys=earlier, member=per_member))
        )
    if "when" in question:
        errors.extend(
            check_condition(
                question["when"], ctx("显示条件", allowed_keys=earlier, member=per_member)
            )
        )
    if "member_filter" in question:
        if not per_member:
            errors.append(f"{where}：只有按成员填写的问题可以设置成员筛选条件（member_filter）。")
        else:
            errors.extend(
                check_condition(
                    question["member_filter"], ctx("成员筛选条件", member=True, facts_only=True)
                )
            )
    _check_prefill(question.get("prefill", True), kind, per_member, where, errors)


def _check_options(question: Mapping[str, Any], kind: Any, where: str, errors: list[str]) -> None:
    options = question.get("options")
    if kind not in CHOICE_TYPES:
        if options is not None:
            errors.append(f"{where}：只有单选题和多选题可以设置选项。")
        return
    if not isinstance(options, list) or not options:
        errors.append(f"{where}：{TYPE_LABELS[kind]}至少应有一个选项（options）。")
        return
    seen: set[str] = set()
    for index, option in enumerate(options, start=1):
        if (
            not isinstance(option, Mapping)
            or not isinstance(option.get("value"), str)
            or not option["value"]
            or not _text(option.get("label"))
            or set(option) - {"value", "label"}
        ):
            errors.append(f"{where}：第{index}个选项应为含 value（编码）和 label（名称）的对象。")
            continue
        if option["value"] in seen:
            errors.append(f"{where}：选项编码“{option['value']}”重复。")
        seen.add(option["value"])


def _check_bounds(question: Mapping[str, Any], kind: Any, where: str, errors: list[str]) -> None:
    low, high = question.get("min"), question.get("max")
    if low is not None or high is not None:
        if kind not in NUMERIC_TYPES:
            errors.append(f"{where}：只有整数题和数值题可以设置取值范围（min/max）。")
        elif (low is not None and not is_number(low)) or (high is not None and not is_number(high)):
            errors.append(f"{where}：取值范围（min/max）应为数字。")
        elif low is not None and high is not None and low > high:
            errors.append(f"{where}：最小值不能大于最大值。")
    for name, allowed in (("max_length", "text"), ("max_count", "photo")):
        if name not in question:
            continue
        value = question[name]
        if kind != allowed:
            errors.append(f"{where}：{TYPE_LABELS.get(str(kind), kind)}不能设置 {name}。")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(f"{where}：{name} 应为正整数。")


def _check_prefill(spec: Any, kind: Any, per_member: bool, where: str, errors: list[str]) -> None:
    if isinstance(spec, bool):
        return
    if not isinstance(spec, Mapping):
        errors.append(f"{where}：预填（prefill）应为 true、false 或预填规则对象。")
        return
    for name in spec:
        if name not in _PREFILL_FIELDS:
            errors.append(f"{where}：预填规则中有未知的字段“{name}”。")
    source, field, transform = spec.get("from"), spec.get("field"), spec.get("transform", "value")
    if not isinstance(source, str) or source not in _TRANSFORMS:
        errors.append(f"{where}：预填来源（from）应为 member、household 或 members。")
        return
    if per_member != (source == "member"):
        errors.append(
            f"{where}：按成员填写的问题只能从成员信息（member）预填，整户问题只能从户信息（household）或全体成员（members）预填。"
        )
    known = HOUSEHOLD_FIELDS if source == "household" else MEMBER_FACTS
    if not isinstance(field, str) or field not in known:
        errors.append(f"{where}：预填规则引用了未知的花名册字段“{field}”。")
    if transform not in _TRANSFORMS[source]:
        errors.append(
            f"{where}：预填来源 {source} 的转换（transform）应为{'、'.join(_TRANSFORMS[source])}之一。"
        )
    if transform == "map":
        mapping = spec.get("map")
        if not isinstance(mapping, Mapping) or not mapping:
            errors.append(f"{where}：预填转换 map 须提供非空的对照表（map）。")
    elif "map" in spec:
        errors.append(f"{where}：只有 map 转换可以设置对照表（map）。")
    if transform == "count":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            errors.append(f"{where}：预填转换 count 须提供要计数的取值列表（values）。")
        if kind not in NUMERIC_TYPES:
            errors.append(f"{where}：计数预填只能用于整数题或数值题。")
    elif "values" in spec:
        errors.append(f"{where}：只有 count 转换可以设置取值列表（values）。")
    if transform in ("present", "any_present") and kind != "bool":
        errors.append(f"{where}：{transform} 预填只能用于是否题。")


def _check_check(
    question: Mapping[str, Any],
    check: Any,
    questions: Mapping[str, Mapping[str, Any]],
    settings: frozenset[str],
    section_keys: set[str],
    offices: frozenset[str],
    errors: list[str],
) -> None:
    where = f"问题“{question['key']}”的检查项"
    if not isinstance(check, Mapping):
        errors.append(f"{where}应为对象。")
        return
    for name in check:
        if name not in _CHECK_FIELDS:
            errors.append(f"{where}：未知的字段“{name}”。")
    ckey = check.get("key")
    if not isinstance(ckey, str) or not KEY_PATTERN.match(ckey):
        errors.append(f"{where}：检查项编码（key）应由小写字母、数字和下划线组成，并以字母开头。")
    else:
        where = f"检查项“{ckey}”"
    if not _text(check.get("label")):
        errors.append(f"{where}：缺少名称（label）。")
    if "problem" in check and not _text(check["problem"]):
        errors.append(f"{where}：问题描述（problem）应为文字。")
    area = check.get("area")
    if not _text(area):
        errors.append(f"{where}：缺少所属领域（area）。")
    elif area not in section_keys:
        errors.append(f"{where}：所属领域“{area}”不是本表的分组编码。")
    codes = check.get("offices")
    if not isinstance(codes, list) or not codes:
        errors.append(f"{where}：缺少责任单位（offices）。")
    else:
        for code in codes:
            if not isinstance(code, str) or code not in offices:
                errors.append(f"{where}：未知的责任单位编码“{code}”。")
        if len(set(map(str, codes))) != len(codes):
            errors.append(f"{where}：责任单位重复。")
    if "rule" not in check:
        errors.append(f"{where}：缺少判定规则（rule）。")
        return
    errors.extend(
        check_condition(
            check["rule"],
            ConditionContext(
                where=f"{where}的判定规则",
                questions=questions,
                settings=settings,
                member=question.get("per_member") is True,
            ),
        )
    )
