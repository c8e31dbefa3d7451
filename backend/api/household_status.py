"""户户清 status: per household, as a filtered list, rolled up by village or group, and trend."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import page_body
from backend.api.schemas.coverage import (
    CoveragePeriodQueryArgsSchema,
    HouseholdStatusDetailSchema,
    HouseholdStatusPageSchema,
    HouseholdStatusQueryArgsSchema,
    StatusRollupQueryArgsSchema,
    StatusRollupSchema,
    StatusTrendQueryArgsSchema,
    StatusTrendSchema,
)
from backend.services import household_status as status_service
from backend.services.periods import parse_period

URL_PREFIX = ""
blp = Blueprint("household_status", __name__, description="户户清状态 / Household status")


def _period(args: dict):
    return parse_period(period=args.pop("period"), start=args.pop("from_"), end=args.pop("to"))


@blp.route("/households/<int:household_id>/status")
class HouseholdStatusById(MethodView):
    @blp.arguments(CoveragePeriodQueryArgsSchema, location="query")
    @blp.response(200, HouseholdStatusDetailSchema)
    def get(self, args, household_id):
        """One household's 户户清 status in a period, with the reasons it is not cleared."""
        return status_service.get_household_status(
            actor=current_actor(), household_id=household_id, period=_period(args)
        )


@blp.route("/household-status")
class HouseholdStatus(MethodView):
    @blp.arguments(HouseholdStatusQueryArgsSchema, location="query")
    @blp.response(200, HouseholdStatusPageSchema)
    def get(self, args):
        """Households of a scope with their 户户清 status, filtered by status and reason."""
        period = _period(args)
        items, total = status_service.list_household_status(
            actor=current_actor(), period=period, **args
        )
        return page_body(items, total, args)


@blp.route("/household-status/rollup")
class HouseholdStatusRollup(MethodView):
    @blp.arguments(StatusRollupQueryArgsSchema, location="query")
    @blp.response(200, StatusRollupSchema)
    def get(self, args):
        """Cleared households per village or per group."""
        period = _period(args)
        return status_service.status_rollup(actor=current_actor(), period=period, **args)


@blp.route("/household-status/trend")
class HouseholdStatusTrend(MethodView):
    @blp.arguments(StatusTrendQueryArgsSchema, location="query")
    @blp.response(200, StatusTrendSchema)
    def get(self, args):
        """Coverage and cleared share month by month, for the last N months."""
        return status_service.status_trend(actor=current_actor(), **args)
