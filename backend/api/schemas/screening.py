"""Screening-list import schemas (部门大数据筛查比对 / 村级上报)."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, UserRefSchema, page_of
from backend.services.screening_import import SOURCES


class ScreeningImportCreateSchema(Schema):
    """The multipart upload: the list file and where it comes from."""

    class Meta:
        unknown = EXCLUDE

    file = Upload(required=True, metadata={"description": "CSV 或 XLSX 名单"})
    source = fields.String(
        load_default="data_screening",
        validate=validate.OneOf(SOURCES, error="来源应为 data_screening 或 village_report。"),
        metadata={
            "description": "data_screening（部门筛查比对，默认）或 village_report（村级上报）"
        },
    )


class ScreeningImportQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the list of imports."""

    source = fields.String(validate=validate.OneOf(SOURCES))


class ScreeningRowMessageSchema(Schema):
    """One message about a row: the column it concerns (if any) and the Chinese text."""

    column = fields.String(dump_only=True, allow_none=True)
    message = fields.String(dump_only=True)


class ScreeningRowSchema(Schema):
    """How one row of the list ended."""

    sheet = fields.String(dump_only=True, allow_none=True)
    row = fields.Integer(dump_only=True)
    outcome = fields.String(
        dump_only=True, metadata={"description": "created | linked_existing | unknown | error"}
    )
    outcome_label = fields.String(dump_only=True)
    id_number = fields.String(dump_only=True, allow_none=True, metadata={"description": "已脱敏"})
    household_number = fields.String(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True, allow_none=True)
    household_id = fields.Integer(dump_only=True, allow_none=True)
    member_id = fields.Integer(dump_only=True, allow_none=True)
    area = fields.String(dump_only=True, allow_none=True)
    area_label = fields.String(dump_only=True, allow_none=True)
    check_key = fields.String(dump_only=True, allow_none=True)
    office_code = fields.String(dump_only=True, allow_none=True)
    problem_id = fields.Integer(dump_only=True, allow_none=True)
    problem_status = fields.String(dump_only=True, allow_none=True)
    messages = fields.List(fields.Nested(ScreeningRowMessageSchema), dump_only=True)


class ScreeningCountsSchema(Schema):
    """Rows of the list, by outcome."""

    rows = fields.Integer(dump_only=True)
    created = fields.Integer(dump_only=True)
    linked_existing = fields.Integer(dump_only=True)
    unknown = fields.Integer(dump_only=True)
    error = fields.Integer(dump_only=True)


class ScreeningImportSchema(Schema):
    """An import in the list: where it came from, who uploaded it, and its counts."""

    id = fields.Integer(dump_only=True)
    source = fields.String(dump_only=True)
    source_label = fields.String(dump_only=True)
    file_name = fields.String(dump_only=True)
    sha256 = fields.String(dump_only=True)
    uploaded_by = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    counts = fields.Nested(ScreeningCountsSchema, dump_only=True)


class ScreeningImportReportSchema(ScreeningImportSchema):
    """An import with its per-row report (and, right after the upload, how the file was read)."""

    rows = fields.List(fields.Nested(ScreeningRowSchema), dump_only=True)
    format = fields.String(dump_only=True)
    encoding = fields.String(dump_only=True, allow_none=True)
    warnings = fields.List(fields.String(), dump_only=True)


ScreeningImportPageSchema = page_of(ScreeningImportSchema, "ScreeningImportPage")
