"""The prefilled visit form, opened from the household list or by scanning the card.

For the household's assigned helper and staff whose scope covers it; anyone else gets 404.
"""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.forms import VisitFormSchema
from backend.services import visit_forms as visit_forms_service

URL_PREFIX = ""
blp = Blueprint(
    "visit_forms", __name__, description="预填走访表 / Prefilled visit form (减少填表报数)"
)


@blp.after_request
def _no_store(response: Response) -> Response:
    # Household data and card tokens must not linger in shared caches or phone browsers.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/households/<int:household_id>/visit-form")
class HouseholdVisitForm(MethodView):
    @blp.response(200, VisitFormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="household.not_found, form.not_found")
    def get(self, household_id: int):
        """The current survey for a household, with answers suggested from what is known."""
        return visit_forms_service.get_visit_form(actor=current_actor(), household_id=household_id)


@blp.route("/scan/<token>/visit-form")
class ScanVisitForm(MethodView):
    @blp.response(200, VisitFormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="card.not_found, household.not_found")
    @blp.alt_response(410, schema=ErrorSchema, description="card.replaced")
    def get(self, token: str):
        """The current survey for the household of a scanned card, with suggested answers."""
        return visit_forms_service.get_visit_form(actor=current_actor(), token=token)
