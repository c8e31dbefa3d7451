"""The notification outbox, read-only, for town admins."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import page_body
from backend.api.schemas.notifications import (
    NotificationPageSchema,
    NotificationQueryArgsSchema,
)
from backend.services import notifications as notification_service

URL_PREFIX = "/notifications"
blp = Blueprint("notifications", __name__, description="消息通知 / Notification outbox")


@blp.route("")
class Notifications(MethodView):
    @blp.arguments(NotificationQueryArgsSchema, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, args):
        """Page through the queued, sent and failed WeChat messages, newest first."""
        rows, total = notification_service.list_notifications(actor=current_actor(), **args)
        return page_body(rows, total, args)
