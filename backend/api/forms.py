"""Survey versions (走访表): list, current, drafts, publishing and retiring.

Every signed-in staff member reads versions; the town office and the district create, edit,
publish and retire them. Published definitions are immutable.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.forms import (
    FormCreateSchema,
    FormPublishSchema,
    FormQueryArgsSchema,
    FormSchema,
    FormSummarySchema,
    FormUpdateSchema,
)
from backend.services import forms as forms_service

URL_PREFIX = "/forms"
blp = Blueprint("forms", __name__, description="走访问卷版本 / Survey versions")


@blp.route("")
class Forms(MethodView):
    @blp.arguments(FormQueryArgsSchema, location="query")
    @blp.response(200, FormSummarySchema(many=True))
    def get(self, args):
        """List survey versions, newest first."""
        return forms_service.list_forms(actor=current_actor(), **args)

    @blp.arguments(FormCreateSchema)
    @blp.response(201, FormSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def post(self, args):
        """Create a draft version numbered one above the highest."""
        return forms_service.create_form(actor=current_actor(), **args)


@blp.route("/current")
class FormsCurrent(MethodView):
    @blp.response(200, FormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="form.not_found")
    def get(self):
        """The latest published version: the survey a new visit is filled on."""
        return forms_service.current_form(actor=current_actor())


@blp.route("/<int:form_id>")
class FormsById(MethodView):
    @blp.response(200, FormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="form.not_found")
    def get(self, form_id: int):
        """Show one version with its definition."""
        return forms_service.get_form(actor=current_actor(), form_id=form_id)

    @blp.arguments(FormUpdateSchema)
    @blp.response(200, FormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="form.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="form.immutable")
    def patch(self, args, form_id: int):
        """Edit a draft's title or definition."""
        return forms_service.update_form(actor=current_actor(), form_id=form_id, **args)


@blp.route("/<int:form_id>/publish")
class FormsPublish(MethodView):
    @blp.arguments(FormPublishSchema)
    @blp.response(200, FormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="form.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="form.immutable")
    @blp.alt_response(422, schema=ErrorSchema, description="form.invalid")
    def post(self, args, form_id: int):
        """Validate and publish a draft; ``retire_previous`` retires the other versions."""
        return forms_service.publish_form(actor=current_actor(), form_id=form_id, **args)


@blp.route("/<int:form_id>/retire")
class FormsRetire(MethodView):
    @blp.response(200, FormSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="form.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="form.immutable, form.last_published")
    def post(self, form_id: int):
        """Retire a version: no new visits are accepted on it."""
        return forms_service.retire_form(actor=current_actor(), form_id=form_id)
