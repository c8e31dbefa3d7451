"""Screening lists and village reports → problems (部门大数据筛查比对 / 村级上报)."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api import imports as roster_api
from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.screening import (
    ScreeningImportCreateSchema,
    ScreeningImportPageSchema,
    ScreeningImportQueryArgsSchema,
    ScreeningImportReportSchema,
)
from backend.services import roster_import, screening_import

URL_PREFIX = "/imports/screening"
blp = Blueprint(
    "screening", __name__, description="筛查名单导入 / Screening lists and village reports"
)
# Same multipart handling (files and form fields as one location) as the roster import.
blp.ARGUMENTS_PARSER = roster_api.blp.ARGUMENTS_PARSER
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = roster_api.blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING


@blp.route("")
class ScreeningImports(MethodView):
    @blp.arguments(ScreeningImportQueryArgsSchema, location="query")
    @blp.response(200, ScreeningImportPageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    def get(self, args):
        """List screening imports made in the caller's region, newest first."""
        return screening_import.list_screening_imports(actor=current_actor(), **args)

    @blp.arguments(ScreeningImportCreateSchema, location="multipart")
    @blp.response(201, ScreeningImportReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="仅镇扶贫办和区扶贫办可导入")
    @blp.alt_response(413, schema=ErrorSchema, description="import.too_large")
    @blp.alt_response(415, schema=ErrorSchema, description="import.unsupported_format")
    @blp.alt_response(422, schema=ErrorSchema, description="import.rejected（整个文件有误）")
    def post(self, form):
        """Import a screening list or village report (CSV or XLSX); each good row opens a problem."""
        upload = form["file"]
        # Read one byte past the limit: enough to know the file is too large.
        data = upload.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        file_name = PurePosixPath((upload.filename or "").replace("\\", "/")).name
        return screening_import.import_screening(
            actor=current_actor(), data=data, file_name=file_name, source=form["source"]
        )


@blp.route("/<int:import_id>")
class ScreeningImportsById(MethodView):
    @blp.response(200, ScreeningImportReportSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="screening.not_found")
    def get(self, import_id: int):
        """Show one screening import with its per-row report."""
        return screening_import.get_screening_import(actor=current_actor(), import_id=import_id)


@blp.route("/template.csv")
class ScreeningTemplateCsv(MethodView):
    @blp.response(200, content_type="text/csv")
    def get(self):
        """Download the screening-list template as CSV (UTF-8 with BOM)."""
        roster_import.require_template_access(current_actor())
        return send_file(
            io.BytesIO(screening_import.screening_template_csv()),
            mimetype="text/csv; charset=utf-8",
            as_attachment=True,
            download_name="筛查名单模板.csv",
        )


@blp.route("/template.xlsx")
class ScreeningTemplateXlsx(MethodView):
    @blp.response(200, content_type=roster_api.XLSX_MIMETYPE)
    def get(self):
        """Download the screening-list template as XLSX, with a 说明 sheet."""
        roster_import.require_template_access(current_actor())
        return send_file(
            io.BytesIO(screening_import.screening_template_xlsx()),
            mimetype=roster_api.XLSX_MIMETYPE,
            as_attachment=True,
            download_name="筛查名单模板.xlsx",
        )
