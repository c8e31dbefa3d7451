"""Early-warning (返贫监测预警) schemas: the review queue, decisions and a household's history."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, UserRefSchema, page_of
from backend.api.schemas.households import HouseholdSchema
from backend.models import MonitorType, WarningReason
from backend.services.warnings import STATUSES

MONITOR_TYPES = [m.value for m in MonitorType]


class WarningEvidenceSchema(Schema):
    """One piece of evidence behind a flag: a visit's figures or a villager's words."""

    at = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    source_label = fields.String(dump_only=True)
    visit_id = fields.Integer(dump_only=True, allow_none=True)
    report_id = fields.Integer(dump_only=True, allow_none=True)
    facts = fields.Dict(dump_only=True)
    text = fields.String(dump_only=True, allow_none=True)


class WarningSchema(Schema):
    """An early-warning flag with its household (masked), evidence and decision."""

    id = fields.Integer(dump_only=True)
    household = fields.Nested(HouseholdSchema, dump_only=True)
    reason = fields.String(dump_only=True)
    reason_label = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    source_label = fields.String(dump_only=True)
    summary = fields.String(dump_only=True)
    evidence = fields.List(fields.Nested(WarningEvidenceSchema), dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    suggested_monitor_type = fields.String(dump_only=True, allow_none=True)
    monitor_type = fields.String(dump_only=True, allow_none=True)
    monitor_type_label = fields.String(dump_only=True, allow_none=True)
    decision_note = fields.String(dump_only=True)
    decided_by = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


WarningPageSchema = page_of(WarningSchema, "WarningPage")


class WarningQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the review queue; ``status`` defaults to pending."""

    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))
    reason = fields.String(validate=validate.OneOf(WarningReason.ALL))
    village_id = fields.Integer()
    household_id = fields.Integer()


class WarningConfirmSchema(Schema):
    """Confirm a flag: the kind of monitored household the household becomes."""

    monitor_type = fields.String(
        required=True,
        validate=validate.OneOf(MONITOR_TYPES),
        metadata={
            "description": "unstable 脱贫不稳定户 / edge 边缘易致贫户 / sudden_hardship 突发严重困难户"
        },
    )
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500, error="说明不能超过500个字。"),
    )


class WarningDismissSchema(Schema):
    """Dismiss a flag: why the household is not taken into monitoring."""

    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500, error="请填写理由（不超过500个字）。"),
    )


class HouseholdWarningsQueryArgsSchema(Schema):
    """Options for a household's warning history."""

    unmask = fields.Boolean(
        load_default=False,
        metadata={"description": "显示完整的困难情况说明（需相应权限，并记入审计日志）"},
    )


class HouseholdWarningsSchema(Schema):
    """Every flag of one household, newest first, with the decisions."""

    household = fields.Nested(HouseholdSchema, dump_only=True)
    items = fields.List(fields.Nested(WarningSchema), dump_only=True)
    unmasked = fields.Boolean(dump_only=True)
