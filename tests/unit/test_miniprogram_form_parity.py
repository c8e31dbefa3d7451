"""The mini-program's form logic (miniprogram_stub/lib/form.js) agrees with the Python engine.

Random answer sets for the default survey (mostly valid, with empty, junk, inapplicable and
per-member answers mixed in) and random households are evaluated by both engines: the field
errors with their Chinese messages, the cleaned answers and every check's status, failing
members, deciding answers and settings must be identical.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from backend.services import survey
from backend.services.survey.common import iter_questions

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "miniprogram_stub" / "tools" / "form_parity.js"
VISIT_DATE = "2026-11-10"
CASES = 600


def _members(rng: random.Random) -> list[dict]:
    members = []
    for i in range(rng.randint(0, 6)):
        age = rng.choice([None, rng.randint(0, 95), rng.choice([5, 6, 15, 16, 64, 65])])
        born = (
            None
            if age is None
            else f"{2026 - age}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
        members.append(
            {
                "id": 100 + i,
                "name": f"测成员{i}",
                "birth_date": born,
                "relation": "户主" if i == 0 else "子女",
                "sex": rng.choice("MF"),
            }
        )
    return members


def _number(rng: random.Random) -> float:
    value = round(rng.uniform(0, 30), 2)
    # JSON cannot tell 12.0 from 12; the phone only ever sends JavaScript numbers.
    return value + 0.25 if value.is_integer() else value


def _valid(question: dict, rng: random.Random):
    kind = question["type"]
    options = [o["value"] for o in question.get("options", [])]
    if kind == "bool":
        return rng.random() < 0.8
    if kind == "single":
        return rng.choice(options)
    if kind == "multi":
        return rng.sample(options, rng.randint(1, len(options)))
    if kind == "int":
        low = question.get("min", 0)
        high = question.get("max", 60)
        return rng.randint(low, high)
    if kind == "number":
        return rng.choice([rng.randint(0, 20000), _number(rng), rng.randint(0, 30)])
    if kind == "text":
        return rng.choice(["测试说明", "x" * rng.randint(1, 8)])
    if kind == "date":
        return rng.choice(["2026-10-01", "2026-11-09"])
    if kind == "photo":
        return [str(uuid.UUID(int=rng.getrandbits(128)))]
    raise AssertionError(kind)


def _value(question: dict, rng: random.Random):
    roll = rng.random()
    if roll < 0.06:
        return None
    if roll < 0.10:
        return rng.choice(["", "  ", [], {}])
    if roll < 0.17:
        junk = ["是", 7, True, -3, 2.5, [1, 1], ["bad"], "2026-02-30", "x" * 1001]
        if question["type"] == "multi":
            junk.append([question["options"][0]["value"]] * 2)
        if question["type"] == "photo":
            junk += [[1, 2], list(range(1, 12)), [str(uuid.UUID(int=5))] * 2]
        return rng.choice(junk)
    return _valid(question, rng)


def _answers(definition: dict, members: list[dict], rng: random.Random):
    roll = rng.random()
    if roll < 0.02:
        return rng.choice([[], "答卷", 3])
    answers: dict = {}
    for _, question in iter_questions(definition):
        if rng.random() < 0.1:
            continue
        if question.get("per_member"):
            if rng.random() < 0.05:
                answers[question["key"]] = _value(question, rng)
                continue
            chosen = [m for m in members if rng.random() < 0.85]
            value = {str(m["id"]): _value(question, rng) for m in chosen}
            if rng.random() < 0.05:
                value["999"] = _valid(question, rng)
            answers[question["key"]] = value
        else:
            answers[question["key"]] = _value(question, rng)
    if rng.random() < 0.05:
        answers["unknown_question"] = 1
    return answers


def _repair(definition: dict, answers: dict, members: list[dict], rng: random.Random) -> dict:
    """Mend answers towards a complete, valid form (so valid cases are compared too)."""
    questions = {q["key"]: q for _, q in iter_questions(definition)}
    for _ in range(8):
        errors = survey.validate_answers(
            definition, answers, members=members, visit_date=VISIT_DATE
        )
        if not errors:
            break
        for field in errors:
            key, _, member = field.partition(".")
            question = questions.get(key)
            if question is None:
                answers.pop(key, None)
            elif member:
                value = answers.get(key)
                if not isinstance(value, dict):
                    answers[key] = value = {}
                if any("不适用" in m or "不是本户" in m for m in errors[field]):
                    value.pop(member, None)
                else:
                    value[member] = _valid(question, rng)
            elif any("不适用" in m for m in errors[field]):
                answers.pop(key, None)
            elif question.get("per_member"):
                answers[key] = {}
            else:
                answers[key] = _valid(question, rng)
    return answers


def _python(definition: dict, case: dict) -> dict:
    kwargs = {"members": case["members"], "visit_date": case["visit_date"]}
    checks = survey.evaluate_checks(
        definition, case["answers"], settings=case.get("settings"), **kwargs
    )
    result = {
        "errors": survey.validate_answers(definition, case["answers"], **kwargs),
        "clean": survey.clean_answers(definition, case["answers"], **kwargs),
        "checks": [
            {
                "key": c.key,
                "status": c.status,
                "failing_members": list(c.failing_members),
                "answers": c.to_dict()["answers"],
                "settings": dict(c.settings),
            }
            for c in checks
        ],
    }
    return json.loads(json.dumps(result, ensure_ascii=False))


def test_form_js_matches_the_python_survey_engine():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    definition = survey.load_default_definition()
    rng = random.Random(20201231)
    cases = []
    for _ in range(CASES):
        members = _members(rng)
        answers = _answers(definition, members, rng)
        if isinstance(answers, dict) and rng.random() < 0.4:
            answers = _repair(definition, answers, members, rng)
        case = {
            "answers": answers,
            "members": members,
            "visit_date": VISIT_DATE,
        }
        if rng.random() < 0.2:
            case["settings"] = {"income_monitoring_line": rng.choice([3000, 8000, 12000])}
        cases.append(case)
    run = subprocess.run(
        [node, str(TOOL)],
        input=json.dumps({"definition": definition, "cases": cases}, ensure_ascii=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    js_results = json.loads(run.stdout)
    assert len(js_results) == len(cases)
    statuses: set[str] = set()
    errors_seen = 0
    for case, js in zip(cases, js_results, strict=True):
        expected = _python(definition, case)
        assert js == expected, json.dumps(case, ensure_ascii=False)
        statuses.update(c["status"] for c in expected["checks"])
        errors_seen += bool(expected["errors"])
    # The cases reach every outcome, valid and invalid.
    assert statuses == {"pass", "fail", "not_applicable", "unanswered"}
    assert 0 < errors_seen < len(cases)
