"""Visits: submit one, sync a queued batch, read them back."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from backend import jsonfast
from backend.api.context import current_actor
from backend.api.schemas.common import page_body
from backend.api.schemas.visits import (
    SyncResponseSchema,
    VisitCreateSchema,
    VisitPageSchema,
    VisitQueryArgsSchema,
    VisitSchema,
    VisitSyncCreateSchema,
    visit_body,
)
from backend.errors import translate_messages
from backend.services import visits as visits_service

URL_PREFIX = ""
blp = Blueprint("visits", __name__, description="入户走访 / Visits")


def _with_photos(visit):
    # The schema reads photo ids off the visit; they live on the photos table.
    visit.photo_ids = visits_service.visit_photo_ids(visit)
    return visit


@blp.route("/visits")
class Visits(MethodView):
    @blp.arguments(VisitQueryArgsSchema, location="query")
    @blp.response(200, VisitPageSchema)
    def get(self, args):
        """List visits in the caller's scope, newest first."""
        rows, total = visits_service.list_visits(actor=current_actor(), **args)
        return page_body([_with_photos(v) for v in rows], total, args)

    # One schema instance for every request (webargs builds one per request from a class);
    # loading keeps no state on the schema.
    @blp.arguments(VisitCreateSchema())
    @blp.response(201, VisitSchema)
    @blp.alt_response(200, schema=VisitSchema, description="An identical retry: the stored visit")
    def post(self, args):
        """Submit a visit; an identical retry returns the stored one (200)."""
        args["client_uuid"] = str(args["client_uuid"])
        visit, created = visits_service.submit_visit(actor=current_actor(), data=args)
        if not created:
            return jsonify(VisitSchema().dump(_with_photos(visit))), 200
        # What was just stored, without reading it back (see visit_body).
        body = visit_body(
            visit,
            form_version=args["form_version"],
            # The rows as stored, serialised once for the database and the answer.
            checks=jsonfast.Fragment(visit.check_rows_json),
            photo_ids=visit.photo_ids,
        )
        return jsonify(body), 201


@blp.route("/visits/<int:visit_id>")
class VisitsById(MethodView):
    @blp.response(200, VisitSchema)
    def get(self, visit_id):
        """Show one visit with its checks, flags and photos."""
        return _with_photos(visits_service.get_visit(actor=current_actor(), visit_id=visit_id))


@blp.route("/sync/visits")
class VisitSync(MethodView):
    @blp.arguments(VisitSyncCreateSchema)
    @blp.response(200, SyncResponseSchema)
    def post(self, args):
        """Submit up to 200 queued visits; each gets its own result."""
        schema = VisitCreateSchema()
        items = []
        for raw in args["visits"]:
            client_uuid = raw.get("client_uuid") if isinstance(raw, dict) else None
            try:
                data = schema.load(raw)
            except ValidationError as exc:
                items.append(
                    visits_service.SyncItem(
                        client_uuid=str(client_uuid) if client_uuid else None,
                        errors={"json": translate_messages(exc.messages)},
                    )
                )
                continue
            data["client_uuid"] = str(data["client_uuid"])
            items.append(visits_service.SyncItem(client_uuid=data["client_uuid"], data=data))
        return {"results": visits_service.sync_visits(actor=current_actor(), items=items)}
