"""Survey version and prefilled visit-form schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.households import HouseholdSchema
from backend.models.form import FormStatus
from backend.services.forms import STATUS_LABELS

_TITLE_LENGTH = validate.Length(min=1, max=128, error="标题应为1至128个字。")
_STATUSES = [FormStatus.DRAFT, FormStatus.PUBLISHED, FormStatus.RETIRED]


class FormSummarySchema(Schema):
    """A survey version as listed, without its definition."""

    id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)
    title = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.Function(lambda f: STATUS_LABELS.get(f.status, f.status), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    created_by_id = fields.Integer(dump_only=True, allow_none=True)
    published_at = fields.DateTime(dump_only=True, allow_none=True)
    published_by_id = fields.Integer(dump_only=True, allow_none=True)
    retired_at = fields.DateTime(dump_only=True, allow_none=True)


class FormSchema(FormSummarySchema):
    """A survey version with its definition."""

    definition = fields.Dict(dump_only=True)


class FormQueryArgsSchema(Schema):
    """Filters for the list of survey versions."""

    status = fields.String(validate=validate.OneOf(_STATUSES))


class FormCreateSchema(Schema):
    """A new draft version."""

    title = fields.String(required=True, validate=_TITLE_LENGTH)
    definition = fields.Dict(
        required=True,
        metadata={"description": "问卷定义（JSON，格式见 backend/services/survey/README.md）"},
    )


class FormUpdateSchema(Schema):
    """Changes to a draft version."""

    title = fields.String(validate=_TITLE_LENGTH)
    definition = fields.Dict()


class FormPublishSchema(Schema):
    """Options for publishing a draft."""

    retire_previous = fields.Boolean(
        load_default=False, metadata={"description": "同时停用其他已发布的版本"}
    )


class VisitFormDefinitionSchema(Schema):
    """The survey version the phone renders."""

    id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)
    title = fields.String(dump_only=True)
    definition = fields.Dict(dump_only=True)


class VisitFormMemberSchema(Schema):
    """A member as the survey shows it: no ID number, no health facts."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    relation = fields.String(dump_only=True)
    sex = fields.String(dump_only=True)
    birth_date = fields.Date(dump_only=True, allow_none=True)
    age = fields.Integer(dump_only=True, allow_none=True)


class LastVisitSchema(Schema):
    """The visit the suggestions were taken from."""

    id = fields.Integer(dump_only=True)
    ended_at = fields.DateTime(dump_only=True)
    form_version = fields.Integer(dump_only=True)


class VisitFormSchema(Schema):
    """The current survey with the household and suggested answers (减少填表报数)."""

    form = fields.Nested(VisitFormDefinitionSchema, dump_only=True)
    household = fields.Nested(HouseholdSchema, dump_only=True)
    unmasked = fields.Boolean(dump_only=True)
    members = fields.List(fields.Nested(VisitFormMemberSchema), dump_only=True)
    prefill = fields.Dict(
        dump_only=True,
        metadata={
            "description": "建议答案：{题目: {value, source}}，按成员的题目为 {成员id: …}；"
            "source 为 roster（花名册）或 last_visit（上次走访）"
        },
    )
    last_visit = fields.Nested(LastVisitSchema, dump_only=True, allow_none=True)
    visit_date = fields.Date(dump_only=True)
