"""Early warning (返贫监测预警): the town's review queue, decisions and household history."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.warnings import (
    HouseholdWarningsQueryArgsSchema,
    HouseholdWarningsSchema,
    WarningConfirmSchema,
    WarningDismissSchema,
    WarningPageSchema,
    WarningQueryArgsSchema,
    WarningSchema,
)
from backend.services import warnings as warnings_service

URL_PREFIX = ""
blp = Blueprint("warnings", __name__, description="返贫监测预警 / Early warning")


@blp.route("/warnings")
class Warnings(MethodView):
    @blp.arguments(WarningQueryArgsSchema, location="query")
    @blp.response(200, WarningPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """List early-warning flags in the caller's scope (pending by default), oldest first."""
        return warnings_service.list_warnings(actor=current_actor(), **args)


@blp.route("/warnings/<int:warning_id>/confirm")
class WarningConfirm(MethodView):
    @blp.arguments(WarningConfirmSchema)
    @blp.response(200, WarningSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="warning.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="warning.already_decided")
    @blp.alt_response(422, schema=ErrorSchema, description="warning.monitor_type_invalid")
    def post(self, args, warning_id: int):
        """Confirm a flag: the household becomes a monitored household (监测对象) of that kind."""
        return warnings_service.confirm_warning(
            actor=current_actor(), warning_id=warning_id, **args
        )


@blp.route("/warnings/<int:warning_id>/dismiss")
class WarningDismiss(MethodView):
    @blp.arguments(WarningDismissSchema)
    @blp.response(200, WarningSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="warning.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="warning.already_decided")
    def post(self, args, warning_id: int):
        """Dismiss a flag with a reason; the household is not taken into monitoring."""
        return warnings_service.dismiss_warning(
            actor=current_actor(), warning_id=warning_id, **args
        )


@blp.route("/households/<int:household_id>/warnings")
class HouseholdWarnings(MethodView):
    @blp.arguments(HouseholdWarningsQueryArgsSchema, location="query")
    @blp.response(200, HouseholdWarningsSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="household.not_found")
    def get(self, args, household_id: int):
        """Show every early-warning flag of a household with its decision, newest first."""
        return warnings_service.household_warnings(
            actor=current_actor(), household_id=household_id, **args
        )
