"""Ledger exports (台账): XLSX, CSV and GeoJSON, streamed."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.exports import ExportQueryArgsSchema
from backend.services import exports as export_service

URL_PREFIX = "/exports"
blp = Blueprint("exports", __name__, description="台账导出 / Ledger exports")


@blp.route("/<string:kind>.<string:fmt>")
class Exports(MethodView):
    @blp.arguments(ExportQueryArgsSchema, location="query")
    @blp.response(
        200,
        description="households|problems|visits|coverage as xlsx or csv; "
        "households also as geojson",
    )
    @blp.alt_response(403, schema=ErrorSchema, description="export.forbidden, export.too_large")
    @blp.alt_response(404, schema=ErrorSchema, description="export.unknown, region.not_found")
    def get(self, args, kind: str, fmt: str):
        """Download a ledger in the caller's scope (personal data masked unless unmask=true)."""
        job = export_service.prepare_export(actor=current_actor(), kind=kind, fmt=fmt, **args)
        response = Response(stream_with_context(job.chunks()), content_type=job.mimetype)
        response.headers["Content-Disposition"] = job.content_disposition
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Export-Rows"] = str(job.row_count)
        return response
