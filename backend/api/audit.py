"""The audit log (town admins, inspectors and the district)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.audit import AuditLogPageSchema, AuditLogQueryArgsSchema
from backend.api.schemas.common import ErrorSchema, page_body
from backend.services import audit as audit_service

URL_PREFIX = "/audit-logs"
blp = Blueprint("audit", __name__, description="审计日志 / Audit log")


@blp.route("")
class AuditLogs(MethodView):
    @blp.arguments(AuditLogQueryArgsSchema, location="query")
    @blp.response(200, AuditLogPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """Page through the audit log, newest first, filtered by action prefix, actor, target, date."""
        rows, total = audit_service.list_events(actor=current_actor(), **args)
        return page_body(rows, total, args)
