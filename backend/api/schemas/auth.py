"""Login schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.models.user import ROLE_LABELS, Role


class LoginCreateSchema(Schema):
    """Staff login with username and password."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=256)
    )


class GrantSchema(Schema):
    """A role held over a region."""

    id = fields.Integer(dump_only=True)
    role = fields.String(dump_only=True)
    role_label = fields.Function(lambda g: ROLE_LABELS[Role(g.role)], dump_only=True)
    region_id = fields.Integer(dump_only=True)
    region_name = fields.String(attribute="region.name", dump_only=True)
    region_level = fields.String(attribute="region.level", dump_only=True)
    office_code = fields.String(dump_only=True, allow_none=True)


class MeSchema(Schema):
    """The signed-in user."""

    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True, allow_none=True)
    display_name = fields.String(dump_only=True)
    wechat_bound = fields.Function(lambda u: u.wechat_openid is not None, dump_only=True)
    grants = fields.List(fields.Nested(GrantSchema), dump_only=True)


class TokenSchema(Schema):
    """A bearer token issued by the service."""

    token = fields.String(dump_only=True)
    token_type = fields.String(dump_only=True, dump_default="Bearer")
    expires_at = fields.DateTime(dump_only=True)
    user = fields.Nested(MeSchema, dump_only=True)
