"""Audit log schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, page_of


class AuditLogSchema(Schema):
    """One audit row."""

    id = fields.Integer(dump_only=True)
    at = fields.DateTime(dump_only=True)
    actor_user_id = fields.Integer(dump_only=True, allow_none=True)
    actor_name = fields.String(dump_only=True, allow_none=True)
    action = fields.String(dump_only=True)
    subject = fields.String(dump_only=True, allow_none=True)
    target_type = fields.String(dump_only=True, allow_none=True)
    target_id = fields.String(dump_only=True, allow_none=True)
    ip = fields.String(dump_only=True, allow_none=True)
    detail = fields.Dict(dump_only=True, allow_none=True)
    region_path = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "事件所属区域（路径）；为空时仅区级可见"},
    )


AuditLogPageSchema = page_of(AuditLogSchema, "AuditLogPage")


class AuditLogQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the audit log."""

    action = fields.String(
        validate=validate.Length(max=200),
        metadata={
            "description": "操作前缀，可用逗号分隔多个，如 pii.read、auth.login、export.、"
            "problem.transition、visit.review、spot_check."
        },
    )
    actor_user_id = fields.Integer(metadata={"description": "操作人用户编号"})
    target_type = fields.String(validate=validate.Length(max=32))
    target_id = fields.String(validate=validate.Length(max=64))
    date_from = fields.Date(data_key="from", metadata={"description": "开始日期（含，北京时间）"})
    date_to = fields.Date(data_key="to", metadata={"description": "结束日期（含，北京时间）"})
