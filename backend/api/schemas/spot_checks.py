"""Spot-check schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import (
    NamedRefSchema,
    PageQueryArgsSchema,
    UserRefSchema,
    page_of,
)
from backend.api.schemas.review import period_field
from backend.services.spot_checks import DECIDED_OUTCOMES


class SpotCheckCreateSchema(Schema):
    """Draw a month's sample for a town."""

    period = period_field(required=True)
    region_id = fields.Integer(required=True, metadata={"description": "镇的地区编号"})
    share = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(
            min=0, max=1, min_inclusive=False, error="抽查比例应大于0且不超过1。"
        ),
        metadata={"description": "抽查比例，默认取系统设置 SPOT_CHECK_SHARE"},
    )
    seed = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "随机种子；相同种子和相同走访记录抽出相同样本"},
    )


class StratumSchema(Schema):
    """One village's population and sample."""

    village = fields.Nested(NamedRefSchema, dump_only=True)
    population = fields.Integer(dump_only=True)
    sample = fields.Integer(dump_only=True)


class SpotCheckHouseholdSchema(Schema):
    """The household of a sampled visit."""

    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    group_name = fields.String(dump_only=True, allow_none=True)


class SpotCheckItemSchema(Schema):
    """One sampled visit and its outcome."""

    id = fields.Integer(dump_only=True)
    visit_id = fields.Integer(dump_only=True)
    village = fields.Nested(NamedRefSchema, dump_only=True)
    household = fields.Nested(SpotCheckHouseholdSchema, dump_only=True)
    helper = fields.Nested(UserRefSchema, dump_only=True)
    visit_ended_at = fields.DateTime(dump_only=True)
    visit_flag_codes = fields.List(fields.String(), dump_only=True)
    visit_review_status = fields.String(dump_only=True)
    outcome = fields.String(dump_only=True)
    outcome_label = fields.String(dump_only=True)
    note = fields.String(dump_only=True)
    decided_by = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)
    problem_id = fields.Integer(dump_only=True, allow_none=True)


class SpotCheckSchema(Schema):
    """A spot-check: its region, month, share, seed and outcome counts."""

    id = fields.Integer(dump_only=True)
    region = fields.Nested(NamedRefSchema, dump_only=True)
    period = fields.String(dump_only=True)
    share = fields.Float(dump_only=True)
    seed = fields.String(dump_only=True)
    population_size = fields.Integer(dump_only=True)
    sample_size = fields.Integer(dump_only=True)
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)
    pending = fields.Integer(dump_only=True)
    created_by = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class SpotCheckDetailSchema(SpotCheckSchema):
    """A spot-check with its strata and sampled visits."""

    strata = fields.List(fields.Nested(StratumSchema), dump_only=True)
    items = fields.List(fields.Nested(SpotCheckItemSchema), dump_only=True)


SpotCheckPageSchema = page_of(SpotCheckSchema, "SpotCheckPage")


class SpotCheckQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the list of spot-checks."""

    region_id = fields.Integer()
    period = period_field()


class SpotCheckOutcomeCreateSchema(Schema):
    """What the inspector found for a sampled visit."""

    outcome = fields.String(
        required=True,
        validate=validate.OneOf(DECIDED_OUTCOMES),
        metadata={
            "description": "confirmed_phone 电话回访属实 | confirmed_revisit 实地复核属实 | "
            "not_confirmed 核实不属实"
        },
    )
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=1000, error="说明不能超过1000个字。"),
    )
