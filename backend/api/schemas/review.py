"""Visit review schemas: the queue, the verdict and per-helper anomaly counts."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import (
    NamedRefSchema,
    PageQueryArgsSchema,
    UserRefSchema,
    page_of,
)
from backend.services.authenticity import FLAG_TITLES
from backend.services.review import DECISIONS, QUEUE_STATUSES

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
PERIOD_ERROR = "月份格式应为 YYYY-MM。"


def period_field(**kwargs) -> fields.String:
    """A ``YYYY-MM`` month (China time)."""
    metadata = {"description": "月份 YYYY-MM（北京时间）", "example": "2026-11"}
    metadata.update(kwargs.pop("metadata", {}))
    return fields.String(
        validate=validate.Regexp(PERIOD_PATTERN, error=PERIOD_ERROR), metadata=metadata, **kwargs
    )


def period_query_field() -> fields.String:
    """A reporting period: ``2026-11``, ``2026-Q4`` (checked by services/periods.py)."""
    return fields.String(
        validate=validate.Length(max=16),
        metadata={"description": "统计期间：月 2026-11 或季度 2026-Q4", "example": "2026-11"},
    )


def date_query_field(key: str, description: str) -> fields.String:
    """One end of a date range (``from``/``to``), checked by services/periods.py."""
    return fields.String(
        data_key=key, validate=validate.Length(max=10), metadata={"description": description}
    )


class PointSchema(Schema):
    """A WGS-84 point."""

    lat = fields.Float(dump_only=True)
    lon = fields.Float(dump_only=True)
    accuracy = fields.Float(dump_only=True, allow_none=True)


class ReviewHouseholdSchema(Schema):
    """The visited household (no personal data beyond the head's name)."""

    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    village = fields.Nested(NamedRefSchema, dump_only=True)
    group_name = fields.String(dump_only=True, allow_none=True)


class FlagSchema(Schema):
    """One authenticity flag."""

    code = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    detail = fields.Dict(dump_only=True)


class ReviewPhotoSchema(Schema):
    """A photo with short-lived signed links."""

    id = fields.Integer(dump_only=True)
    purpose = fields.String(dump_only=True)
    taken_at = fields.DateTime(dump_only=True, allow_none=True)
    thumb_url = fields.String(dump_only=True)
    display_url = fields.String(dump_only=True)
    visit_id = fields.Integer(dump_only=True)
    visit_ended_at = fields.DateTime(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    household_number = fields.String(dump_only=True)


class VisitPhotoSchema(ReviewPhotoSchema):
    """A photo of the reviewed visit and, for a reused photo, its twin in another household."""

    matched_photo = fields.Nested(ReviewPhotoSchema, dump_only=True, allow_none=True)


class ReviewDecisionSchema(Schema):
    """The reviewer's verdict."""

    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    note = fields.String(dump_only=True, allow_none=True)
    reviewed_by = fields.Nested(UserRefSchema, dump_only=True, allow_none=True)
    reviewed_at = fields.DateTime(dump_only=True, allow_none=True)


class ReviewVisitSchema(Schema):
    """A visit in the review queue."""

    id = fields.Integer(dump_only=True)
    household = fields.Nested(ReviewHouseholdSchema, dump_only=True)
    helper = fields.Nested(UserRefSchema, dump_only=True)
    started_at = fields.DateTime(dump_only=True)
    ended_at = fields.DateTime(dump_only=True)
    received_at = fields.DateTime(dump_only=True)
    duration_minutes = fields.Float(dump_only=True)
    gps = fields.Nested(PointSchema, dump_only=True, allow_none=True)
    household_location = fields.Nested(PointSchema, dump_only=True, allow_none=True)
    distance_m = fields.Float(dump_only=True, allow_none=True)
    failed_check_count = fields.Integer(dump_only=True)
    flags = fields.List(fields.Nested(FlagSchema), dump_only=True)
    review = fields.Nested(ReviewDecisionSchema, dump_only=True)
    photos = fields.List(fields.Nested(VisitPhotoSchema), dump_only=True)
    earlier_photos = fields.List(fields.Nested(ReviewPhotoSchema), dump_only=True)


ReviewVisitPageSchema = page_of(ReviewVisitSchema, "ReviewVisitPage")


class ReviewQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the review queue (default: flagged and unreviewed)."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    status = fields.String(
        load_default="unreviewed",
        validate=validate.OneOf(QUEUE_STATUSES),
        metadata={"description": "unreviewed 未审核 | valid 有效 | invalid 无效 | all 全部"},
    )
    flagged_only = fields.Boolean(
        load_default=True, metadata={"description": "只看有异常标记的走访"}
    )
    flag = fields.String(
        validate=validate.OneOf(list(FLAG_TITLES)), metadata={"description": "异常标记代码"}
    )
    village_id = fields.Integer()
    helper_id = fields.Integer()
    period = period_query_field()
    date_from = date_query_field("from", "开始日期 YYYY-MM-DD（含）")
    date_to = date_query_field("to", "结束日期 YYYY-MM-DD（含）")


class ReviewCreateSchema(Schema):
    """A verdict on a visit: valid, or invalid with a note."""

    status = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=1000, error="说明不能超过1000个字。"),
    )


class HelperAnomalyArgsSchema(Schema):
    """The period (default this month) and an optional village."""

    period = period_query_field()
    date_from = date_query_field("from", "开始日期 YYYY-MM-DD（含）")
    date_to = date_query_field("to", "结束日期 YYYY-MM-DD（含）")
    village_id = fields.Integer()


class AnomalyPeriodSchema(Schema):
    """A reporting period: whole China days ``from``..``to``."""

    kind = fields.String(dump_only=True)
    key = fields.String(dump_only=True)
    from_ = fields.String(data_key="from", attribute="from", dump_only=True)
    to = fields.String(dump_only=True)
    label = fields.String(dump_only=True)


class FlagCodeSchema(Schema):
    """A flag code and its Chinese title."""

    code = fields.String(dump_only=True)
    title = fields.String(dump_only=True)


class HelperAnomalySchema(Schema):
    """One helper's visits and anomalies."""

    helper_id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True)
    visits = fields.Integer(dump_only=True)
    flagged = fields.Integer(dump_only=True)
    invalid = fields.Integer(dump_only=True)
    valid = fields.Integer(dump_only=True)
    flagged_unreviewed = fields.Integer(dump_only=True)
    flagged_pct = fields.Float(dump_only=True)
    by_flag = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)


class HelperAnomalyReportSchema(Schema):
    """Anomaly counts per helper."""

    period = fields.Nested(AnomalyPeriodSchema, dump_only=True)
    flag_codes = fields.List(fields.Nested(FlagCodeSchema), dump_only=True)
    rows = fields.List(fields.Nested(HelperAnomalySchema), dump_only=True)
