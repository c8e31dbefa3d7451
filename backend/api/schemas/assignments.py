"""Assignment schemas."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields


class AssignmentSchema(Schema):
    """A helper's responsibility for a household over a period."""

    id = fields.Integer(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    helper_id = fields.Integer(dump_only=True)
    helper_name = fields.String(attribute="helper.display_name", dump_only=True)
    start_date = fields.Date(dump_only=True)
    end_date = fields.Date(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class AssignmentCreateSchema(Schema):
    """Hand the household to a helper from a date (the old assignment ends the day before)."""

    helper_id = fields.Integer(required=True)
    start_date = fields.Date(load_default=date.today)
