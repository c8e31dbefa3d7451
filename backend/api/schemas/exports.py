"""Ledger export schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from backend.api.schemas.review import date_query_field, period_query_field
from backend.models import ProblemStatus
from backend.models.household import HouseholdCategory


class ExportQueryArgsSchema(Schema):
    """Filters of an export; each kind uses the ones that apply to it."""

    region_id = fields.Integer(metadata={"description": "地区（村、镇）；默认为您的全部范围"})
    period = period_query_field()
    date_from = date_query_field("from", "开始日期 YYYY-MM-DD（含）")
    date_to = date_query_field("to", "结束日期 YYYY-MM-DD（含）")
    category = fields.String(validate=validate.OneOf([c.value for c in HouseholdCategory]))
    status = fields.List(
        fields.String(validate=validate.OneOf(ProblemStatus.ALL)),
        metadata={"description": "问题状态（可重复或用逗号分隔）"},
    )
    office = fields.String(validate=validate.Length(max=32))
    area = fields.String(validate=validate.Length(max=32))
    helper_id = fields.Integer()
    unmask = fields.Boolean(
        load_default=False,
        metadata={"description": "导出完整的姓名、身份证号和电话（需相应权限，并记入审计日志）"},
    )

    @pre_load
    def _split_lists(self, data, **_kwargs):
        # ?status=a,b and ?status=a&status=b mean the same.
        if hasattr(data, "getlist"):
            merged = {k: data.get(k) for k in data}
            merged["status"] = [
                part for value in data.getlist("status") for part in value.split(",") if part
            ]
            if not merged["status"]:
                merged.pop("status")
            return merged
        return data
