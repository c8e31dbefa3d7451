"""Household location proposal schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, page_of
from backend.api.schemas.households import HouseholdSchema
from backend.services.locations import STATUSES


class LocationProposalSchema(Schema):
    """A location proposed by a visit, with its household (masked) and the decision."""

    id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    household = fields.Nested(HouseholdSchema, dump_only=True)
    lat = fields.Float(dump_only=True)
    lon = fields.Float(dump_only=True)
    accuracy = fields.Float(dump_only=True, metadata={"description": "定位精度（米）"})
    visit_id = fields.Integer(dump_only=True)
    visit_ended_at = fields.DateTime(dump_only=True)
    helper_name = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    decided_by_name = fields.String(dump_only=True, allow_none=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)


LocationProposalPageSchema = page_of(LocationProposalSchema, "LocationProposalPage")


class LocationProposalQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the list of location proposals."""

    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))


class LocationRejectSchema(Schema):
    """Why a proposal is rejected."""

    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500, error="说明不能超过500个字。"),
    )
