"""Household cards (明白卡): QR image, printable sheets, reissue and scans.

Who may do what:
- ``qr.png``: CARD_ROLES whose scope covers the household, and the household's assigned helper
  (to show the code on a phone or print a single copy).
- ``card/reissue`` and ``cards.pdf``: CARD_ROLES in scope only.
- ``scan``: anyone; the household view for its helper and staff in scope, else the public view.
- ``/q/<token>``, the page a villager's phone opens, is the report form: ``backend/api/public.py``.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.cards import CardSchema, CardViewSchema
from backend.api.schemas.common import ErrorSchema
from backend.services import card_print
from backend.services import cards as cards_service

URL_PREFIX = ""
blp = Blueprint("cards", __name__, description="明白卡与扫码 / Household cards and scans")


@blp.after_request
def _no_store(response: Response) -> Response:
    # Card tokens and household data must not linger in shared caches or phone browsers.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/households/<int:household_id>/qr.png")
class HouseholdQr(MethodView):
    @blp.response(200, content_type="image/png", description="二维码图片")
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="household.not_found")
    def get(self, household_id: int):
        """The QR code of the household's card, issuing its first card if needed."""
        card = cards_service.get_household_card(actor=current_actor(), household_id=household_id)
        png = card_print.render_qr_png(cards_service.card_url(card.token))
        return Response(png, mimetype="image/png")


@blp.route("/households/<int:household_id>/card/reissue")
class HouseholdCardReissue(MethodView):
    @blp.response(201, CardSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="household.not_found")
    def post(self, household_id: int):
        """Revoke the household's card and issue a new one (a lost or damaged card)."""
        return cards_service.reissue_card(actor=current_actor(), household_id=household_id)


@blp.route("/villages/<int:village_id>/cards.pdf")
class VillageCards(MethodView):
    @blp.response(200, content_type="application/pdf", description="A4 明白卡打印页")
    @blp.alt_response(403, schema=ErrorSchema, description="auth.forbidden")
    @blp.alt_response(404, schema=ErrorSchema, description="region.not_found")
    @blp.alt_response(422, schema=ErrorSchema, description="region.not_village")
    def get(self, village_id: int):
        """Printable A4 sheets with one card per household of the village."""
        sheet = cards_service.print_village_cards(actor=current_actor(), village_id=village_id)
        filename = quote(f"明白卡-{sheet.village.name}.pdf")
        response = Response(sheet.pdf, mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f"inline; filename=\"cards-{sheet.village.id}.pdf\"; filename*=UTF-8''{filename}"
        )
        return response


@blp.route("/scan/<token>")
class Scan(MethodView):
    @blp.response(200, CardViewSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="card.not_found")
    @blp.alt_response(410, schema=ErrorSchema, description="card.replaced")
    def get(self, token: str):
        """What a scanned card shows to the caller."""
        return cards_service.get_card_view(actor=current_actor(), token=token)
