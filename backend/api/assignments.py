"""Helper assignments: history, reassignment, and a helper's own households."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.assignments import AssignmentCreateSchema, AssignmentSchema
from backend.api.schemas.households import HouseholdSchema
from backend.services import assignments as assignments_service
from backend.services.households import household_summary

URL_PREFIX = ""
blp = Blueprint("assignments", __name__, description="帮扶关系 / Assignments")


@blp.route("/households/<int:household_id>/assignments")
class HouseholdAssignments(MethodView):
    @blp.response(200, AssignmentSchema(many=True))
    def get(self, household_id):
        """Show the household's assignment history."""
        return assignments_service.list_assignments(
            actor=current_actor(), household_id=household_id
        )

    @blp.arguments(AssignmentCreateSchema)
    @blp.response(201, AssignmentSchema)
    def post(self, args, household_id):
        """Reassign the household: end the current assignment and start a new one."""
        return assignments_service.reassign_household(
            actor=current_actor(), household_id=household_id, **args
        )


@blp.route("/assignments/mine")
class MyAssignments(MethodView):
    @blp.response(200, HouseholdSchema(many=True))
    def get(self):
        """List the households assigned to me (helpers)."""
        households = assignments_service.list_my_households(actor=current_actor())
        return [household_summary(h) for h in households]
