"""Audit log schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, page_of


class AuditLogSchema(Schema):
    """One audit row."""

    id = fields.Integer(dump_only=True)
    at = fields.DateTime(dump_only=True)
    actor_user_id = fields.Integer(dump_only=True, allow_none=True)
    action = fields.String(dump_only=True)
    subject = fields.String(dump_only=True, allow_none=True)
    target_type = fields.String(dump_only=True, allow_none=True)
    target_id = fields.String(dump_only=True, allow_none=True)
    ip = fields.String(dump_only=True, allow_none=True)
    detail = fields.Dict(dump_only=True, allow_none=True)


AuditLogPageSchema = page_of(AuditLogSchema, "AuditLogPage")


class AuditLogQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the audit log."""

    action = fields.String(validate=validate.Length(max=64))
    target_type = fields.String(validate=validate.Length(max=32))
    target_id = fields.String(validate=validate.Length(max=64))
