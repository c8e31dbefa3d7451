"""WeChat login, binding and binding-code schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.auth import MeSchema


class WechatLoginCreateSchema(Schema):
    """A ``wx.login`` code from the mini-program."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class WechatBindCreateSchema(Schema):
    """Bind the WeChat of a bind ticket to the account of a binding code."""

    bind_ticket = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    binding_code = fields.String(required=True, validate=validate.Length(min=1, max=32))


class WechatLoginSchema(Schema):
    """``status: ok`` with a bearer token, or ``status: binding_required`` with a bind ticket."""

    status = fields.String(
        dump_only=True, metadata={"enum": ["ok", "binding_required"], "example": "ok"}
    )
    token = fields.String(dump_only=True)
    token_type = fields.String(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    user = fields.Nested(MeSchema, dump_only=True)
    bind_ticket = fields.String(dump_only=True)


class BindingCodeSchema(Schema):
    """A freshly issued binding code: shown once, never stored in plain."""

    code = fields.String(dump_only=True, metadata={"example": "K7QM2XPA"})
    expires_at = fields.DateTime(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True)
