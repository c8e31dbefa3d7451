"""Visit authenticity review: the queue, the verdict, anomaly counts per helper."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.review import (
    HelperAnomalyArgsSchema,
    HelperAnomalyReportSchema,
    ReviewCreateSchema,
    ReviewQueryArgsSchema,
    ReviewVisitPageSchema,
    ReviewVisitSchema,
)
from backend.services import review as review_service

URL_PREFIX = ""
blp = Blueprint("review", __name__, description="走访真实性审核 / Visit authenticity review")


@blp.route("/review/visits")
class ReviewVisits(MethodView):
    @blp.arguments(ReviewQueryArgsSchema, location="query")
    @blp.response(200, ReviewVisitPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """List visits to review (flagged and unreviewed by default), with photos and map data."""
        return review_service.list_review_queue(actor=current_actor(), **args)


@blp.route("/visits/<int:visit_id>/review")
class VisitReview(MethodView):
    @blp.arguments(ReviewCreateSchema)
    @blp.response(200, ReviewVisitSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="visit.not_found")
    @blp.alt_response(422, schema=ErrorSchema, description="review.note_required")
    def post(self, args, visit_id: int):
        """Mark a visit valid or invalid (a note is required for invalid)."""
        return review_service.review_visit(actor=current_actor(), visit_id=visit_id, **args)


@blp.route("/review/helpers")
class ReviewHelpers(MethodView):
    @blp.arguments(HelperAnomalyArgsSchema, location="query")
    @blp.response(200, HelperAnomalyReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """Anomaly counts per helper for a month (default this month) or a date range."""
        return review_service.helper_anomalies(actor=current_actor(), **args)
