"""Problems (问题清单): list, counts, detail with the timeline, and transitions."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema, page_body
from backend.api.schemas.problems import (
    ProblemAreaSchema,
    ProblemCountsQueryArgsSchema,
    ProblemCountsSchema,
    ProblemDetailSchema,
    ProblemPageSchema,
    ProblemQueryArgsSchema,
    ProblemTransitionCreateSchema,
)
from backend.services import problem_queries

URL_PREFIX = "/problems"
blp = Blueprint("problems", __name__, description="问题清单 / Problems")


@blp.route("")
class Problems(MethodView):
    @blp.arguments(ProblemQueryArgsSchema, location="query")
    @blp.response(200, ProblemPageSchema)
    def get(self, args):
        """List the problems in the caller's scope, newest first (head names masked)."""
        items, total = problem_queries.list_problems(actor=current_actor(), **args)
        return page_body(items, total, args)


@blp.route("/counts")
class ProblemCounts(MethodView):
    @blp.arguments(ProblemCountsQueryArgsSchema, location="query")
    @blp.response(200, ProblemCountsSchema)
    def get(self, args):
        """Count problems by office × status or village × status, with open and overdue."""
        return problem_queries.count_problems(actor=current_actor(), **args)


@blp.route("/areas")
class ProblemAreas(MethodView):
    @blp.response(200, ProblemAreaSchema(many=True))
    def get(self):
        """The problem areas of the routing table, for pickers."""
        return problem_queries.list_problem_areas(actor=current_actor())


@blp.route("/<int:problem_id>")
class ProblemsById(MethodView):
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="problem.not_found")
    def get(self, problem_id):
        """Show one problem with its timeline, photos and linked reports."""
        return problem_queries.get_problem(actor=current_actor(), problem_id=problem_id)


@blp.route("/<int:problem_id>/transitions")
class ProblemTransitions(MethodView):
    @blp.arguments(ProblemTransitionCreateSchema)
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="problem.role_not_allowed")
    @blp.alt_response(404, schema=ErrorSchema, description="problem.not_found")
    @blp.alt_response(
        409, schema=ErrorSchema, description="problem.transition_not_allowed（details.allowed）"
    )
    @blp.alt_response(
        422,
        schema=ErrorSchema,
        description="problem.evidence_required / transition_invalid / photo_invalid",
    )
    def post(self, args, problem_id):
        """Move a problem one step (accept, assign, start, rectify, verify, close…)."""
        return problem_queries.transition_problem_for(
            actor=current_actor(), problem_id=problem_id, **args
        )
