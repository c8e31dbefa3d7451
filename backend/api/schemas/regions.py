"""Region tree schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.models.region import LEVEL_LABELS, RegionLevel


class RegionSchema(Schema):
    """One node of the region tree."""

    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    level = fields.String(dump_only=True)
    level_label = fields.Function(lambda r: LEVEL_LABELS[RegionLevel(r.level)], dump_only=True)
    parent_id = fields.Integer(dump_only=True, allow_none=True)


class RegionQueryArgsSchema(Schema):
    """Filters for the region list."""

    parent_id = fields.Integer()
    level = fields.String(validate=validate.OneOf([lv.value for lv in RegionLevel]))
