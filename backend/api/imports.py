"""Roster import (花名册导入) and its templates."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.imports import (
    RosterImportCreateSchema,
    RosterImportQueryArgsSchema,
    RosterImportReportSchema,
)
from backend.services import roster_import

URL_PREFIX = "/imports"
blp = Blueprint("imports", __name__, description="花名册导入 / Roster import")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _MultipartParser(FlaskParser):
    """Reads a multipart body's files and form fields together, as one location."""

    __location_map__ = dict(FlaskParser.__location_map__, multipart="load_multipart")

    def load_multipart(self, req, schema):
        """Files and form fields of a multipart/form-data body."""
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


# Only this blueprint needs the combined location; the shared parser stays as it is.
blp.ARGUMENTS_PARSER = _MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
    Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, multipart="multipart/form-data"
)


@blp.route("/roster")
class RosterImport(MethodView):
    @blp.arguments(RosterImportQueryArgsSchema, location="query")
    @blp.arguments(RosterImportCreateSchema, location="multipart")
    @blp.response(200, RosterImportReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="仅镇扶贫办和区扶贫办可导入")
    @blp.alt_response(413, schema=ErrorSchema, description="import.too_large")
    @blp.alt_response(415, schema=ErrorSchema, description="import.unsupported_format")
    def post(self, query, form):
        """Import a household roster (CSV or XLSX): regions, households, members and helpers."""
        actor = current_actor()
        roster_import.require_import_role(actor)
        on_error = form.get("on_error") or query.get("on_error") or roster_import.ON_ERROR_REJECT
        dry_run = form.get("dry_run")
        if dry_run is None:
            dry_run = bool(query.get("dry_run"))
        upload = form["file"]
        # Read one byte past the limit: enough to know the file is too large.
        data = upload.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        file_name = PurePosixPath((upload.filename or "").replace("\\", "/")).name
        return roster_import.import_roster(
            data=data, file_name=file_name, actor=actor, on_error=on_error, dry_run=dry_run
        )


@blp.route("/roster/template.csv")
class RosterTemplateCsv(MethodView):
    @blp.response(200, content_type="text/csv")
    def get(self):
        """Download the roster template as CSV (UTF-8 with BOM)."""
        roster_import.require_template_access(current_actor())
        return send_file(
            io.BytesIO(roster_import.roster_template_csv()),
            mimetype="text/csv; charset=utf-8",
            as_attachment=True,
            download_name="户户清花名册模板.csv",
        )


@blp.route("/roster/template.xlsx")
class RosterTemplateXlsx(MethodView):
    @blp.response(200, content_type=XLSX_MIMETYPE)
    def get(self):
        """Download the roster template as XLSX, with the 地区 and 说明 sheets."""
        roster_import.require_template_access(current_actor())
        return send_file(
            io.BytesIO(roster_import.roster_template_xlsx()),
            mimetype=XLSX_MIMETYPE,
            as_attachment=True,
            download_name="户户清花名册模板.xlsx",
        )
