"""Schemas shared by every area: errors, pagination and references to users and places."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ErrorBodySchema(Schema):
    """The inside of every error document."""

    code = fields.String(required=True, metadata={"example": "card.replaced"})
    message = fields.String(required=True)
    details = fields.Dict()
    fields_ = fields.Dict(data_key="fields")


class ErrorSchema(Schema):
    """The one JSON error shape."""

    error = fields.Nested(ErrorBodySchema, required=True)


class NamedRefSchema(Schema):
    """An id with a name (a region, a village)."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)


class UserRefSchema(Schema):
    """A user's id and display name."""

    id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True, allow_none=True)


class PageQueryArgsSchema(Schema):
    """Page selection for list endpoints."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    """Build the schema of one page of ``item_schema`` items."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "total": fields.Integer(required=True),
            "page": fields.Integer(required=True),
            "page_size": fields.Integer(required=True),
        },
        name=name,
    )


def page_body(items: list, total: int, args: dict) -> dict:
    """Assemble a page document from items, the total and the parsed page arguments."""
    return {"items": items, "total": total, "page": args["page"], "page_size": args["page_size"]}
