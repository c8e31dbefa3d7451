"""Problem and routing-table schemas."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from backend.api.schemas.common import NamedRefSchema, PageQueryArgsSchema, page_of
from backend.models import ProblemSource, ProblemStatus
from backend.services.problem_machine import TRANSITIONS


class CommaList(fields.List):
    """A repeatable query parameter that also accepts comma-separated values."""

    def _deserialize(self, value, attr, data, **kwargs):
        values = value if isinstance(value, list | tuple) else [value]
        split = []
        for item in values:
            if not isinstance(item, str):
                raise ValidationError("应为文本。")
            split.extend(part.strip() for part in item.split(",") if part.strip())
        return super()._deserialize(split, attr, data, **kwargs)


class ProblemQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the problem list."""

    status = CommaList(
        fields.String(validate=validate.OneOf(ProblemStatus.ALL)),
        metadata={"description": "状态，可重复或以逗号分隔"},
    )
    office = fields.String(
        validate=validate.Length(max=32), metadata={"description": "责任单位代码"}
    )
    area = fields.String(validate=validate.Length(max=32), metadata={"description": "问题类别"})
    village_id = fields.Integer(validate=validate.Range(min=1))
    source = fields.String(validate=validate.OneOf(ProblemSource.ALL))
    overdue = fields.Boolean(metadata={"description": "true 仅逾期，false 仅未逾期"})
    household_id = fields.Integer(validate=validate.Range(min=1))
    q = fields.String(
        validate=validate.Length(max=64), metadata={"description": "问题标题、描述或户编号"}
    )


class ProblemSchema(Schema):
    """A problem as listed (the household head's name masked)."""

    id = fields.Integer(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    household_number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    village = fields.Nested(NamedRefSchema, dump_only=True)
    area = fields.String(dump_only=True)
    area_label = fields.String(dump_only=True)
    check_key = fields.String(dump_only=True, allow_none=True)
    office_code = fields.String(dump_only=True)
    office_name = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    source_label = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    deadline_at = fields.DateTime(dump_only=True, allow_none=True)
    overdue = fields.Boolean(dump_only=True)
    escalation_level = fields.Integer(dump_only=True)
    opened_at = fields.DateTime(dump_only=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    updated_at = fields.DateTime(dump_only=True)
    allowed_actions = fields.List(
        fields.String(), dump_only=True, metadata={"description": "调用者此刻可执行的操作"}
    )
    verification_visit_id = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "后续走访该项检查已通过"}
    )


ProblemPageSchema = page_of(ProblemSchema, "ProblemPage")


class ProblemPhotoSchema(Schema):
    """A photo of a problem, with short-lived signed links."""

    id = fields.Integer(dump_only=True)
    purpose = fields.String(dump_only=True)
    thumb_url = fields.String(dump_only=True)
    display_url = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ProblemEventSchema(Schema):
    """One entry of a problem's timeline."""

    id = fields.Integer(dump_only=True)
    action = fields.String(dump_only=True)
    action_label = fields.String(dump_only=True)
    from_status = fields.String(dump_only=True, allow_none=True)
    to_status = fields.String(dump_only=True)
    to_status_label = fields.String(dump_only=True)
    actor_label = fields.String(dump_only=True)
    actor_role = fields.String(dump_only=True, allow_none=True)
    actor_role_label = fields.String(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True)
    photos = fields.List(fields.Nested(ProblemPhotoSchema), dump_only=True)
    data = fields.Dict(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ProblemReportRefSchema(Schema):
    """A villager's report linked to the problem."""

    id = fields.Integer(dump_only=True)
    receipt_code = fields.String(dump_only=True)
    channel = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    linked = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ProblemHouseholdSchema(Schema):
    """The household of a problem, enough to find it."""

    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    address = fields.String(dump_only=True)
    village_name = fields.String(dump_only=True)
    group_name = fields.String(dump_only=True, allow_none=True)


class ProblemDetailSchema(ProblemSchema):
    """A problem with its household, full timeline, photos and linked reports."""

    household = fields.Nested(ProblemHouseholdSchema, dump_only=True)
    source_visit_id = fields.Integer(dump_only=True, allow_none=True)
    merged_into_id = fields.Integer(dump_only=True, allow_none=True)
    reopen_count = fields.Integer(dump_only=True)
    timeline = fields.List(fields.Nested(ProblemEventSchema), dump_only=True)
    photos = fields.List(fields.Nested(ProblemPhotoSchema), dump_only=True)
    reports = fields.List(fields.Nested(ProblemReportRefSchema), dump_only=True)


class ProblemTransitionCreateSchema(Schema):
    """One step of a problem's life, with what that step needs."""

    action = fields.String(required=True, validate=validate.OneOf(list(TRANSITIONS)))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    photo_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "整改照片（先以 purpose=evidence 上传到 /photos）"},
    )
    office_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=32)
    )
    target_problem_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1)
    )
    visit_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


class ProblemCountsQueryArgsSchema(Schema):
    """Which counts to make."""

    by = fields.String(load_default="office", validate=validate.OneOf(["office", "village"]))
    area = fields.String(validate=validate.Length(max=32))
    source = fields.String(validate=validate.OneOf(ProblemSource.ALL))


class ProblemCountTotalSchema(Schema):
    """Counts of problems by status, open and overdue."""

    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)
    open = fields.Integer(dump_only=True)
    overdue = fields.Integer(dump_only=True)
    total = fields.Integer(dump_only=True)


class ProblemCountRowSchema(ProblemCountTotalSchema):
    """Counts for one office or one village."""

    key = fields.String(dump_only=True)
    label = fields.String(dump_only=True)


class StatusLabelSchema(Schema):
    """A status and its label, in the machine's order."""

    status = fields.String(dump_only=True)
    label = fields.String(dump_only=True)


class ProblemCountsSchema(Schema):
    """Problems by office × status or by village × status."""

    by = fields.String(dump_only=True)
    rows = fields.List(fields.Nested(ProblemCountRowSchema), dump_only=True)
    total = fields.Nested(ProblemCountTotalSchema, dump_only=True)
    statuses = fields.List(fields.Nested(StatusLabelSchema), dump_only=True)


class ProblemAreaSchema(Schema):
    """A problem area for pickers."""

    area = fields.String(dump_only=True)
    label = fields.String(dump_only=True)


class OfficeRefSchema(Schema):
    """A responsible office."""

    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)


class RoutingRuleSchema(Schema):
    """Area (and optionally one check) → responsible offices, the first leading."""

    id = fields.Integer(dump_only=True)
    area = fields.String(dump_only=True)
    check_key = fields.String(dump_only=True)
    area_label = fields.String(dump_only=True)
    office_codes = fields.List(fields.String(), dump_only=True)
    offices = fields.List(fields.Nested(OfficeRefSchema), dump_only=True)
    deadline_days = fields.Integer(dump_only=True, allow_none=True)
    updated_by_id = fields.Integer(dump_only=True, allow_none=True)
    updated_at = fields.DateTime(dump_only=True)


class RoutingRuleCreateSchema(Schema):
    """A routing rule as a town admin writes it (the whole rule, also for updates)."""

    area = fields.String(required=True, validate=validate.Length(min=1, max=32))
    check_key = fields.String(
        load_default="",
        validate=validate.Length(max=64),
        metadata={"description": "留空为整个类别；填写检查项代码则只对该项生效"},
    )
    area_label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    office_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(min=1, max=10, error="请选择1至10个责任单位。"),
        metadata={"description": "责任单位代码，第一个为牵头单位"},
    )
    deadline_days = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=365, error="整改期限应为1至365天。"),
    )
