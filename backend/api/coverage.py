"""Visit coverage of a town, village, group or helper in a month, quarter or date range."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.coverage import CoverageQueryArgsSchema, CoverageSchema
from backend.services import coverage as coverage_service
from backend.services.periods import parse_period

URL_PREFIX = ""
blp = Blueprint("coverage", __name__, description="走访覆盖率 / Visit coverage")


@blp.route("/coverage")
class Coverage(MethodView):
    @blp.arguments(CoverageQueryArgsSchema, location="query")
    @blp.response(200, CoverageSchema)
    def get(self, args):
        """Coverage per child region and per helper, with the households not visited."""
        period = parse_period(
            period=args.pop("period"), start=args.pop("from_"), end=args.pop("to")
        )
        return coverage_service.get_coverage(actor=current_actor(), period=period, **args)
