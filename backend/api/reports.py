"""Villagers' own reports (农户主动反映): public endpoints for the card's QR, and staff ones.

Public (no account): the areas, photo uploads and reports made with the card token, and a
report's progress by receipt code. Submitting is rate limited (``report_limits``). Staff: the
list for town admins and village cadres in scope, and the town admin's release or discard of
reports held by content security. The mobile web page (``/q/<token>``, ``/r/<code>``) is in
``backend/api/public.py``.
"""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict

from backend.api import public
from backend.api.context import current_actor
from backend.api.report_limits import mark_replay, report_rate_limits, reporter_openid
from backend.api.schemas.common import ErrorSchema, page_body, page_of
from backend.api.schemas.reports import (
    ReceiptSchema,
    ReportAreaSchema,
    ReportCreatedSchema,
    ReportCreateSchema,
    ReportDecisionSchema,
    ReportPhotoCreateSchema,
    ReportPhotoSchema,
    ReportQueryArgsSchema,
    ReportSchema,
)
from backend.services import reports as reports_service

URL_PREFIX = "/reports"
blp = Blueprint("reports", __name__, description="农户主动反映 / Villagers' reports")
PAGE_BLUEPRINTS = [public.pages]

ReportPageSchema = page_of(ReportSchema, "ReportPage")


class _MultipartParser(FlaskParser):
    """Reads a multipart body's files and form fields as one location, ``multipart``."""

    __location_map__ = dict(FlaskParser.__location_map__, multipart="load_multipart")

    def load_multipart(self, req, schema):
        """Files and form fields of a multipart/form-data body."""
        # Villagers' photos are small and few: werkzeug's own parser (which spools large
        # files to disk) will do; staff uploads have the streaming one in photos.py.
        fields = MultiDict(req.form.items(multi=True))
        fields.update(req.files.items(multi=True))
        return self._makeproxy(fields, schema)


blp.ARGUMENTS_PARSER = _MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
    Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, multipart="multipart/form-data"
)


@blp.after_request
def _no_store(response: Response) -> Response:
    # Receipts, card tokens and signed photo links must not linger in caches.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/areas")
class ReportAreas(MethodView):
    @blp.response(200, ReportAreaSchema(many=True))
    def get(self):
        """The areas a villager may pick for a report (public)."""
        return reports_service.report_areas()


@blp.route("/photos")
class ReportPhotos(MethodView):
    @report_rate_limits(photos=True)
    @blp.arguments(ReportPhotoCreateSchema, location="multipart")
    @blp.response(201, ReportPhotoSchema, description="新上传的照片")
    @blp.alt_response(200, schema=ReportPhotoSchema, description="重传：已保存过的同一张照片")
    @blp.alt_response(404, schema=ErrorSchema, description="card.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="photo.conflict")
    @blp.alt_response(410, schema=ErrorSchema, description="card.replaced")
    @blp.alt_response(413, schema=ErrorSchema, description="photo.too_large")
    @blp.alt_response(415, schema=ErrorSchema, description="photo.not_image / unsupported_format")
    @blp.alt_response(422, schema=ErrorSchema, description="字段有误，或照片损坏、不完整")
    @blp.alt_response(429, schema=ErrorSchema, description="request.rate_limited")
    def post(self, form):
        """Upload one photo for a report with the card token (public; retry-safe)."""
        upload = form["file"]
        photo, created = reports_service.upload_report_photo(
            card_token=form["card_token"],
            stream=upload.stream,
            filename=upload.filename,
            client_uuid=str(form["client_uuid"]),
        )
        mark_replay(not created)
        body = {
            "id": photo.id,
            "client_uuid": photo.client_uuid,
            "thumb_url": reports_service.photo_thumb_url(photo),
        }
        return body, 201 if created else 200


@blp.route("")
class Reports(MethodView):
    @blp.arguments(ReportQueryArgsSchema, location="query")
    @blp.response(200, ReportPageSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="auth.required")
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """Villagers' reports in the caller's region (town admins, village cadres)."""
        items, total = reports_service.list_reports(
            actor=current_actor(),
            moderation=args["moderation"],
            household_id=args["household_id"],
            page=args["page"],
            page_size=args["page_size"],
        )
        return page_body(items, total, args)

    @report_rate_limits()
    @blp.arguments(ReportCreateSchema)
    @blp.response(201, ReportCreatedSchema, description="已受理的反映及回执码")
    @blp.alt_response(200, schema=ReportCreatedSchema, description="重发：同一提交编号的反映")
    @blp.alt_response(404, schema=ErrorSchema, description="card.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="report.conflict")
    @blp.alt_response(410, schema=ErrorSchema, description="card.replaced")
    @blp.alt_response(
        422, schema=ErrorSchema, description="request.validation / report.content_refused"
    )
    @blp.alt_response(429, schema=ErrorSchema, description="request.rate_limited")
    def post(self, body):
        """Report a problem with the household card's token (public; retry-safe)."""
        outcome = reports_service.create_report(
            card_token=body["card_token"],
            description=body["description"],
            area=body["area"],
            photo_ids=body["photo_ids"],
            client_uuid=str(body["client_uuid"]) if body["client_uuid"] else None,
            openid=reporter_openid(),
            ip=request.remote_addr,
            channel="miniprogram",
            contact_ok=body["contact_ok"],
        )
        mark_replay(outcome.replayed)
        return reports_service.created_view(outcome.report), 200 if outcome.replayed else 201


@blp.route("/<string:receipt_code>")
class ReportByReceipt(MethodView):
    @blp.response(200, ReceiptSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="report.not_found")
    def get(self, receipt_code: str):
        """A report's progress by its receipt code (public; no personal data)."""
        return reports_service.get_receipt(receipt_code=receipt_code)


@blp.route("/<int:report_id>/release")
class ReportRelease(MethodView):
    @blp.arguments(ReportDecisionSchema)
    @blp.response(200, ReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="report.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="report.not_held")
    def post(self, body, report_id: int):
        """Let a held report through: it opens or joins its problem (town admin)."""
        return reports_service.release_report(
            actor=current_actor(), report_id=report_id, note=body["note"]
        )


@blp.route("/<int:report_id>/discard")
class ReportDiscard(MethodView):
    @blp.arguments(ReportDecisionSchema)
    @blp.response(200, ReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="report.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="report.not_held")
    @blp.alt_response(422, schema=ErrorSchema, description="退回须填写理由")
    def post(self, body, report_id: int):
        """Refuse a held report with a reason; no problem is opened (town admin)."""
        return reports_service.discard_report(
            actor=current_actor(), report_id=report_id, note=body["note"]
        )
