"""User and role-grant schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.auth import GrantSchema
from backend.api.schemas.common import PageQueryArgsSchema, page_of
from backend.models.user import Role

_ROLES = [r.value for r in Role]


class UserSchema(Schema):
    """A staff account."""

    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True, allow_none=True)
    display_name = fields.String(dump_only=True)
    phone = fields.String(dump_only=True, allow_none=True)
    is_active = fields.Boolean(dump_only=True)
    wechat_bound = fields.Function(lambda u: u.wechat_openid is not None, dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)
    grants = fields.List(fields.Nested(GrantSchema), dump_only=True)


UserPageSchema = page_of(UserSchema, "UserPage")


class RoleGrantCreateSchema(Schema):
    """A role to grant over a region."""

    role = fields.String(required=True, validate=validate.OneOf(_ROLES))
    region_id = fields.Integer(required=True)
    office_code = fields.String(load_default=None, allow_none=True)


class UserCreateSchema(Schema):
    """A new staff account."""

    display_name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    username = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9_.-]{3,64}$", error="用户名应为3-64位字母、数字或_.-"
        ),
    )
    phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9+\-]{5,20}$", error="电话号码格式有误。"),
    )
    password = fields.String(load_default=None, allow_none=True, load_only=True)
    roles = fields.List(fields.Nested(RoleGrantCreateSchema), load_default=list)


class UserUpdateSchema(Schema):
    """Changes to a staff account."""

    display_name = fields.String(validate=validate.Length(min=1, max=64))
    phone = fields.String(validate=validate.Regexp(r"^[0-9+\-]{5,20}$", error="电话号码格式有误。"))
    password = fields.String(load_only=True)
    is_active = fields.Boolean()


class UserQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the user list."""

    role = fields.String(validate=validate.OneOf(_ROLES))
    region_id = fields.Integer()
    q = fields.String(validate=validate.Length(max=64))


__all__ = ["GrantSchema"]
