"""Notification outbox schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, UserRefSchema, page_of
from backend.models import NotificationKind, NotificationStatus

_STATUSES = [
    NotificationStatus.PENDING,
    NotificationStatus.SENT,
    NotificationStatus.NO_SUBSCRIPTION,
    NotificationStatus.NO_RECIPIENT,
    NotificationStatus.FAILED,
]
_KINDS = [
    NotificationKind.OFFICE_ASSIGNED,
    NotificationKind.DEADLINE_SOON,
    NotificationKind.OVERDUE,
    NotificationKind.REPORT_ACCEPTED,
    NotificationKind.REPORT_CLOSED,
]


class NotificationSchema(Schema):
    """One outbox row. Openids are never shown; ``has_openid`` says whether there is one."""

    id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    kind_label = fields.String(dump_only=True)
    problem_id = fields.Integer(dump_only=True, allow_none=True)
    recipient = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    recipient_type = fields.String(dump_only=True, metadata={"enum": ["staff", "villager"]})
    has_openid = fields.Boolean(dump_only=True)
    template_id = fields.String(dump_only=True)
    page = fields.String(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    next_attempt_at = fields.DateTime(dump_only=True)
    last_errcode = fields.Integer(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    sent_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


NotificationPageSchema = page_of(NotificationSchema, "NotificationPage")


class NotificationQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the outbox."""

    status = fields.String(validate=validate.OneOf(_STATUSES))
    kind = fields.String(validate=validate.OneOf(_KINDS))
    problem_id = fields.Integer(validate=validate.Range(min=1))
