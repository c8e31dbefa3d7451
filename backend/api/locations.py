"""Household location proposals: list (village cadre, town office, district), confirm, reject."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.locations import (
    LocationProposalPageSchema,
    LocationProposalQueryArgsSchema,
    LocationProposalSchema,
    LocationRejectSchema,
)
from backend.services import locations as locations_service

URL_PREFIX = "/location-proposals"
blp = Blueprint("locations", __name__, description="农户位置建议 / Household location proposals")


@blp.route("")
class LocationProposals(MethodView):
    @blp.arguments(LocationProposalQueryArgsSchema, location="query")
    @blp.response(200, LocationProposalPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """List location proposals in the caller's scope (households masked)."""
        return locations_service.list_proposals(actor=current_actor(), **args)


@blp.route("/<int:proposal_id>/confirm")
class LocationProposalConfirm(MethodView):
    @blp.response(200, LocationProposalSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="location.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="location.already_decided")
    def post(self, proposal_id: int):
        """Confirm a proposal: it becomes the household's registered location."""
        return locations_service.confirm_proposal(actor=current_actor(), proposal_id=proposal_id)


@blp.route("/<int:proposal_id>/reject")
class LocationProposalReject(MethodView):
    @blp.arguments(LocationRejectSchema)
    @blp.response(200, LocationProposalSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="location.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="location.already_decided")
    def post(self, args, proposal_id: int):
        """Reject a proposal, with an optional note; the household's location is unchanged."""
        return locations_service.reject_proposal(
            actor=current_actor(), proposal_id=proposal_id, **args
        )
