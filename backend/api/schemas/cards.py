"""Household card schemas: cards, and what a scan of one shows."""

from __future__ import annotations

from marshmallow import Schema, fields

from backend.api.schemas.households import HelperSchema, HouseholdSchema, MemberSchema
from backend.services.cards import card_url


class CardSchema(Schema):
    """A household card and the URL its QR encodes."""

    id = fields.Integer(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    issued_at = fields.DateTime(dump_only=True)
    url = fields.Function(lambda card: card_url(card.token), dump_only=True)


class CardRefSchema(Schema):
    """The scanned card."""

    id = fields.Integer(dump_only=True)
    issued_at = fields.DateTime(dump_only=True)


class VisitDueSchema(Schema):
    """What is due for the household in the current month."""

    period = fields.String(dump_only=True, metadata={"example": "2026-11"})
    visit_due = fields.Boolean(dump_only=True)
    last_visit_at = fields.DateTime(dump_only=True, allow_none=True)


class CardViewSchema(Schema):
    """A scan: ``view`` is ``household`` for the helper and staff in scope, else ``public``.

    The public view carries only the village name and where to report a problem.
    """

    view = fields.String(dump_only=True, metadata={"enum": ["public", "household"]})
    village_name = fields.String(dump_only=True)
    can_report = fields.Boolean(dump_only=True)
    report_url = fields.String(dump_only=True)
    town_hotline = fields.String(dump_only=True)
    unmasked = fields.Boolean(dump_only=True)
    card = fields.Nested(CardRefSchema, dump_only=True)
    household = fields.Nested(HouseholdSchema, dump_only=True)
    members = fields.List(fields.Nested(MemberSchema), dump_only=True)
    helper = fields.Nested(HelperSchema, dump_only=True, allow_none=True)
    due = fields.Nested(VisitDueSchema, dump_only=True)
    open_items = fields.List(fields.Dict(), dump_only=True)
