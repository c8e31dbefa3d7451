"""Roster import schemas."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields, validate

ON_ERROR_CHOICES = ("reject", "skip")


class RosterImportQueryArgsSchema(Schema):
    """Options of a roster import, given in the query string."""

    class Meta:
        unknown = EXCLUDE

    on_error = fields.String(
        load_default=None,
        validate=validate.OneOf(ON_ERROR_CHOICES),
        metadata={"description": "reject（默认，有错整体退回）或 skip（跳过有错的户）"},
    )
    dry_run = fields.Boolean(load_default=None, metadata={"description": "只校验，不写入"})


class RosterImportCreateSchema(RosterImportQueryArgsSchema):
    """The multipart upload: the roster file, and the same options as form fields."""

    file = Upload(required=True, metadata={"description": "CSV 或 XLSX 花名册"})


class RowErrorSchema(Schema):
    """One problem in the file, where the user sees it."""

    sheet = fields.String(dump_only=True, allow_none=True)
    row = fields.Integer(dump_only=True, allow_none=True)
    column = fields.String(dump_only=True, allow_none=True)
    message = fields.String(dump_only=True)


class ChangeCountsSchema(Schema):
    """Created, updated and unchanged rows of one kind."""

    created = fields.Integer(dump_only=True)
    updated = fields.Integer(dump_only=True)
    unchanged = fields.Integer(dump_only=True)


class HouseholdCountsSchema(ChangeCountsSchema):
    """Household counts, with the households skipped for errors."""

    skipped = fields.Integer(dump_only=True)


class MemberCountsSchema(HouseholdCountsSchema):
    """Member counts, with members in the database that the file does not list."""

    not_in_file = fields.Integer(dump_only=True)


class RosterCountsSchema(Schema):
    """What the import did (or, for a dry run or a rejected file, would do)."""

    regions = fields.Nested(ChangeCountsSchema, dump_only=True)
    groups = fields.Nested(ChangeCountsSchema, dump_only=True)
    households = fields.Nested(HouseholdCountsSchema, dump_only=True)
    members = fields.Nested(MemberCountsSchema, dump_only=True)
    helpers = fields.Nested(ChangeCountsSchema, dump_only=True)
    assignments = fields.Nested(ChangeCountsSchema, dump_only=True)


class RosterImportReportSchema(Schema):
    """The result of a roster import."""

    status = fields.String(dump_only=True, metadata={"description": "imported | validated"})
    dry_run = fields.Boolean(dump_only=True)
    on_error = fields.String(dump_only=True)
    file_name = fields.String(dump_only=True)
    sha256 = fields.String(dump_only=True)
    format = fields.String(dump_only=True)
    encoding = fields.String(dump_only=True, allow_none=True)
    rows = fields.Integer(dump_only=True)
    bad_rows = fields.Integer(dump_only=True)
    counts = fields.Nested(RosterCountsSchema, dump_only=True)
    errors = fields.List(fields.Nested(RowErrorSchema), dump_only=True)
    errors_total = fields.Integer(dump_only=True)
    warnings = fields.List(fields.String(), dump_only=True)
