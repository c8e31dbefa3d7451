"""Household registry schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, page_of
from backend.models.household import HouseholdCategory


class HouseholdSchema(Schema):
    """A household as shown in lists and at the top of its detail view."""

    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    address = fields.String(dump_only=True)
    phone = fields.String(dump_only=True, allow_none=True)
    lat = fields.Float(dump_only=True, allow_none=True)
    lon = fields.Float(dump_only=True, allow_none=True)
    region_id = fields.Integer(dump_only=True)
    region_name = fields.String(dump_only=True)
    village_id = fields.Integer(dump_only=True)
    village_name = fields.String(dump_only=True)
    group_name = fields.String(dump_only=True, allow_none=True)
    category = fields.String(dump_only=True)
    category_label = fields.String(dump_only=True)
    poverty_status = fields.String(dump_only=True, allow_none=True)
    poverty_status_label = fields.String(dump_only=True, allow_none=True)
    monitor_type = fields.String(dump_only=True, allow_none=True)
    monitor_type_label = fields.String(dump_only=True, allow_none=True)
    is_dibao = fields.Boolean(dump_only=True)
    is_tekun = fields.Boolean(dump_only=True)
    is_disabled = fields.Boolean(dump_only=True)
    is_monitored = fields.Boolean(dump_only=True)


class MemberSchema(Schema):
    """A household member; ID number, phones and health facts may be masked."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    relation = fields.String(dump_only=True)
    sex = fields.String(dump_only=True)
    birth_date = fields.Date(dump_only=True)
    id_number = fields.String(dump_only=True)
    schooling = fields.String(dump_only=True, allow_none=True)
    medical_insurance = fields.Boolean(dump_only=True)
    serious_illness_insurance = fields.Boolean(dump_only=True)
    doctor_name = fields.String(dump_only=True, allow_none=True)
    doctor_phone = fields.String(dump_only=True, allow_none=True)
    disability = fields.String(dump_only=True, allow_none=True)
    chronic_illness = fields.String(dump_only=True, allow_none=True)
    migrant_work = fields.Boolean(dump_only=True)


class HelperSchema(Schema):
    """The helper responsible for a household."""

    id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True)
    phone = fields.String(dump_only=True, allow_none=True)
    since = fields.Date(dump_only=True)


class HouseholdDetailSchema(Schema):
    """A household with its members and helper."""

    household = fields.Nested(HouseholdSchema, dump_only=True)
    members = fields.List(fields.Nested(MemberSchema), dump_only=True)
    helper = fields.Nested(HelperSchema, dump_only=True, allow_none=True)
    unmasked = fields.Boolean(dump_only=True)


HouseholdPageSchema = page_of(HouseholdSchema, "HouseholdPage")


class HouseholdQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the household list."""

    region_id = fields.Integer(metadata={"description": "村或组的地区 id（含下级）"})
    category = fields.String(validate=validate.OneOf([c.value for c in HouseholdCategory]))
    q = fields.String(
        validate=validate.Length(max=64), metadata={"description": "户主姓名或户编号"}
    )


class HouseholdDetailQueryArgsSchema(Schema):
    """Options for the household detail view."""

    unmask = fields.Boolean(
        load_default=False,
        metadata={"description": "显示完整身份证号、电话和健康信息（需相应权限，并记入审计日志）"},
    )
