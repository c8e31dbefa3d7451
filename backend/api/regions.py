"""Region tree: district → town → village → group."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.regions import RegionQueryArgsSchema, RegionSchema
from backend.services import regions as regions_service

URL_PREFIX = "/regions"
blp = Blueprint("regions", __name__, description="行政区划 / Regions")


@blp.route("")
class Regions(MethodView):
    @blp.arguments(RegionQueryArgsSchema, location="query")
    @blp.response(200, RegionSchema(many=True))
    def get(self, args):
        """List the regions the caller can see."""
        return regions_service.list_regions(actor=current_actor(), **args)


@blp.route("/<int:region_id>")
class RegionsById(MethodView):
    @blp.response(200, RegionSchema)
    def get(self, region_id):
        """Show one region."""
        return regions_service.get_region(actor=current_actor(), region_id=region_id)
