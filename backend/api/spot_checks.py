"""Monthly spot-checks (抽查核验): draw a sample, list and show them, record outcomes."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.spot_checks import (
    SpotCheckCreateSchema,
    SpotCheckDetailSchema,
    SpotCheckItemSchema,
    SpotCheckOutcomeCreateSchema,
    SpotCheckPageSchema,
    SpotCheckQueryArgsSchema,
)
from backend.services import spot_checks as spot_check_service

URL_PREFIX = "/spot-checks"
blp = Blueprint("spot_checks", __name__, description="抽查核验 / Spot-checks")


@blp.route("")
class SpotChecks(MethodView):
    @blp.arguments(SpotCheckQueryArgsSchema, location="query")
    @blp.response(200, SpotCheckPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """List spot-checks in the caller's scope, newest month first."""
        return spot_check_service.list_spot_checks(actor=current_actor(), **args)

    @blp.arguments(SpotCheckCreateSchema)
    @blp.response(201, SpotCheckDetailSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="region.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="spot_check.exists")
    @blp.alt_response(422, schema=ErrorSchema, description="spot_check.empty")
    def post(self, args):
        """Draw the month's stratified random sample of a town's visits (reproducible by seed)."""
        return spot_check_service.create_spot_check(actor=current_actor(), **args)


@blp.route("/<int:spot_check_id>")
class SpotChecksById(MethodView):
    @blp.response(200, SpotCheckDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="spot_check.not_found")
    def get(self, spot_check_id: int):
        """Show one spot-check with its sampled visits and their outcomes."""
        return spot_check_service.get_spot_check(actor=current_actor(), spot_check_id=spot_check_id)


@blp.route("/<int:spot_check_id>/items/<int:item_id>/outcome")
class SpotCheckItemOutcome(MethodView):
    @blp.arguments(SpotCheckOutcomeCreateSchema)
    @blp.response(200, SpotCheckItemSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="spot_check.item_not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="spot_check.already_decided")
    @blp.alt_response(422, schema=ErrorSchema, description="spot_check.note_required")
    def post(self, args, spot_check_id: int, item_id: int):
        """Record a sampled visit's outcome; "not confirmed" invalidates it for 镇纪委 to follow."""
        return spot_check_service.record_outcome(
            actor=current_actor(), spot_check_id=spot_check_id, item_id=item_id, **args
        )
