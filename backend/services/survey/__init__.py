"""The survey engine: versioned visit-survey definitions as data, evaluated in pure Python.

No database and no Flask: the visit service stores definitions (``form_versions``) and passes
plain dicts in. The definition format, the condition language and how answers and errors are
keyed are described in README.md next to this module.
"""

from backend.services.survey.answers import clean_answers, validate_answers
from backend.services.survey.checks import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    STATUS_LABELS,
    UNANSWERED,
    Assessment,
    CheckResult,
    CheckSpec,
    FormPlan,
    assess,
    compile_checks,
    compile_form,
    evaluate_checks,
)
from backend.services.survey.common import OFFICE_CODES, QUESTION_TYPES
from backend.services.survey.definition import load_default_definition, validate_definition
from backend.services.survey.prefill import LAST_VISIT, ROSTER, prefill

__all__ = [
    "FAIL",
    "LAST_VISIT",
    "NOT_APPLICABLE",
    "OFFICE_CODES",
    "PASS",
    "QUESTION_TYPES",
    "ROSTER",
    "STATUS_LABELS",
    "UNANSWERED",
    "Assessment",
    "CheckResult",
    "CheckSpec",
    "FormPlan",
    "assess",
    "clean_answers",
    "compile_checks",
    "compile_form",
    "evaluate_checks",
    "load_default_definition",
    "prefill",
    "validate_answers",
    "validate_definition",
]
