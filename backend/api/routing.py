"""The routing table: which office receives the problems of each area."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.problems import RoutingRuleCreateSchema, RoutingRuleSchema
from backend.services import problem_queries

URL_PREFIX = "/routing-rules"
blp = Blueprint("routing", __name__, description="问题分派规则 / Routing table")


@blp.route("")
class RoutingRules(MethodView):
    @blp.response(200, RoutingRuleSchema(many=True))
    def get(self):
        """List the routing table (any staff)."""
        return problem_queries.list_routing_rules(actor=current_actor())

    @blp.arguments(RoutingRuleCreateSchema)
    @blp.response(201, RoutingRuleSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden：仅镇扶贫办")
    @blp.alt_response(409, schema=ErrorSchema, description="routing.conflict")
    @blp.alt_response(422, schema=ErrorSchema, description="routing.invalid")
    def post(self, args):
        """Add a routing rule for an area or one check (town admins)."""
        return problem_queries.create_routing_rule(actor=current_actor(), **args)


@blp.route("/<int:rule_id>")
class RoutingRulesById(MethodView):
    @blp.arguments(RoutingRuleCreateSchema)
    @blp.response(200, RoutingRuleSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden：仅镇扶贫办")
    @blp.alt_response(404, schema=ErrorSchema, description="routing.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="routing.conflict")
    @blp.alt_response(422, schema=ErrorSchema, description="routing.invalid")
    def put(self, args, rule_id):
        """Replace a routing rule (town admins); problems already open keep their office."""
        return problem_queries.update_routing_rule(actor=current_actor(), rule_id=rule_id, **args)
