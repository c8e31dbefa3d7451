"""Household registry: list and detail."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.households import (
    HouseholdDetailQueryArgsSchema,
    HouseholdDetailSchema,
    HouseholdPageSchema,
    HouseholdQueryArgsSchema,
)
from backend.services import households as households_service

URL_PREFIX = "/households"
blp = Blueprint("households", __name__, description="农户档案 / Household registry")


@blp.route("")
class Households(MethodView):
    @blp.arguments(HouseholdQueryArgsSchema, location="query")
    @blp.response(200, HouseholdPageSchema)
    def get(self, args):
        """List households in the caller's scope (personal data masked)."""
        return households_service.list_households(actor=current_actor(), **args)


@blp.route("/<int:household_id>")
class HouseholdsById(MethodView):
    @blp.arguments(HouseholdDetailQueryArgsSchema, location="query")
    @blp.response(200, HouseholdDetailSchema)
    def get(self, args, household_id):
        """Show one household with its members; ``unmask=true`` reveals and audits PII."""
        return households_service.get_household(
            actor=current_actor(), household_id=household_id, unmask=args["unmask"]
        )
