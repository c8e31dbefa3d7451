"""Household cards (明白卡): unguessable QR tokens, issue, revoke and reissue, and scans."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    CardStatus,
    Household,
    HouseholdCard,
    Member,
    Region,
    RegionLevel,
    Role,
    User,
    utcnow,
)
from backend.services import pii
from backend.services.assignments import current_assignment
from backend.services.audit import record_event
from backend.services.authz import (
    CARD_ROLES,
    Actor,
    can_read_household,
    can_see_pii,
    load_household_for,
    load_region_for,
    require_household_role,
)
from backend.services.card_print import CardFace, render_cards_pdf, resolve_font_path
from backend.services.clock import CHINA_TZ
from backend.services.households import (
    helper_view,
    household_summary,
    member_view,
    record_pii_read,
)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_LENGTH = 24  # 24 base62 characters carry ~142 random bits and fit a 32-char scene.
_TOKEN_SHAPE = re.compile(r"[0-9A-Za-z]{1,32}")
# The assigned helper may fetch the QR of their household (to show it or print one copy);
# reissuing and village sheets stay with CARD_ROLES.
QR_ROLES = CARD_ROLES | {Role.HELPER}
# Months and "today" are the town's, not UTC's. China has no daylight saving time.
HEAD_RELATION = "户主"
_ISSUE_ATTEMPTS = 3


def new_card_token() -> str:
    """A fresh random base62 token of 24 characters (about 142 bits)."""
    return "".join(secrets.choice(_BASE62) for _ in range(TOKEN_LENGTH))


def card_url(token: str) -> str:
    """The URL a card's QR encodes: ``PUBLIC_BASE_URL/q/<token>``."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/q/{token}"


def active_card_of(household_id: int) -> HouseholdCard | None:
    """The household's active card, if it has one."""
    return db.session.scalar(
        select(HouseholdCard).where(
            HouseholdCard.household_id == household_id,
            HouseholdCard.status == CardStatus.ACTIVE,
        )
    )


def ensure_active_card(*, household: Household) -> HouseholdCard:
    """Return the household's active card, issuing the first one if it has none."""
    for _ in range(_ISSUE_ATTEMPTS):
        card = active_card_of(household.id)
        if card is not None:
            return card
        # A concurrent request may issue the first card at the same moment: the partial unique
        # index refuses the second one, and we use the winner's card.
        try:
            with db.session.begin_nested():
                card = HouseholdCard(household_id=household.id, token=new_card_token())
                db.session.add(card)
            return card
        except IntegrityError:
            continue
    raise DomainError("request.conflict")


def ensure_village_cards(
    *, village_id: int, households: list[Household]
) -> dict[int, HouseholdCard]:
    """Active cards of a village's households by household id, issuing the missing ones at once."""
    cards = {
        card.household_id: card
        for card in db.session.scalars(
            select(HouseholdCard)
            .join(Household, Household.id == HouseholdCard.household_id)
            .where(Household.village_id == village_id, HouseholdCard.status == CardStatus.ACTIVE)
        )
    }
    missing = [h for h in households if h.id not in cards]
    if missing:
        try:
            with db.session.begin_nested():
                fresh = [HouseholdCard(household_id=h.id, token=new_card_token()) for h in missing]
                db.session.add_all(fresh)
            cards.update((card.household_id, card) for card in fresh)
        except IntegrityError:
            # Someone issued some of them meanwhile: fall back to one at a time.
            for household in missing:
                cards[household.id] = ensure_active_card(household=household)
    return cards


def find_card(*, token: str) -> HouseholdCard:
    """The active card with ``token``; 410 ``card.replaced`` if revoked, 404 if unknown."""
    found = find_cards(tokens=[token])[token]
    if isinstance(found, DomainError):
        raise found
    return found


def find_cards(*, tokens: list[str]) -> dict[str, HouseholdCard | DomainError]:
    """``find_card`` for many tokens in one query: each token's card, or the error it gets."""
    wellformed = sorted({t for t in tokens if _TOKEN_SHAPE.fullmatch(t or "")})
    cards = {}
    if wellformed:
        cards = {
            card.token: card
            for card in db.session.scalars(
                select(HouseholdCard).where(HouseholdCard.token.in_(wellformed))
            )
        }
    found: dict[str, HouseholdCard | DomainError] = {}
    for token in tokens:
        card = cards.get(token)
        if card is None:
            found[token] = DomainError("card.not_found")
        elif card.status != CardStatus.ACTIVE:
            found[token] = DomainError("card.replaced")
        else:
            found[token] = card
    return found


def get_household_card(*, actor: Actor, household_id: int) -> HouseholdCard:
    """The household's active card for its QR, issuing the first one if needed."""
    household = load_household_for(actor, household_id)
    require_household_role(actor, household, QR_ROLES)
    return ensure_active_card(household=household)


def reissue_card(*, actor: Actor, household_id: int) -> HouseholdCard:
    """Revoke the household's active card (lost, damaged) and issue a new one."""
    household = load_household_for(actor, household_id)
    require_household_role(actor, household, CARD_ROLES)
    # Serialise reissues of one household: each must revoke the card the previous one issued.
    db.session.execute(select(Household.id).where(Household.id == household.id).with_for_update())
    old = active_card_of(household.id)
    now = utcnow()
    if old is not None:
        old.status = CardStatus.REVOKED
        old.revoked_at = now
        old.revoked_by_id = actor.user_id
        # Flush the revocation first: the unique index allows one active card per household.
        db.session.flush()
    new = HouseholdCard(household_id=household.id, token=new_card_token(), issued_at=now)
    db.session.add(new)
    db.session.flush()
    if old is not None:
        old.replaced_by_id = new.id
        db.session.flush()
    record_event(
        actor=actor,
        action="card.revoked" if old is not None else "card.issued",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={"revoked_card_id": old.id if old else None, "new_card_id": new.id},
    )
    return new


def get_public_card_view(*, token: str) -> dict[str, Any]:
    """What a stranger reading the card on the wall may learn: the village, and where to report."""
    card = find_card(token=token)
    return _public_view(card)


def get_card_view(*, actor: Actor, token: str) -> dict[str, Any]:
    """A scan: the household card view for its helper and staff in scope, else the public view."""
    card = find_card(token=token)
    household = card.household
    if not actor.is_authenticated or not can_read_household(actor, household):
        if actor.is_authenticated:
            _record_scan(actor, card, view="public")
        return _public_view(card)
    unmask = can_see_pii(actor, household)
    _record_scan(actor, card, view="household")
    if unmask:
        record_pii_read(actor=actor, household=household, via="card.scan")
    view = _public_view(card)
    view.update(
        view="household",
        unmasked=unmask,
        card={"id": card.id, "issued_at": card.issued_at},
        household=household_summary(household, unmask=unmask),
        members=[member_view(m, unmask=unmask) for m in household.members],
        helper=helper_view(current_assignment(household.id)),
        due=visit_due(household_id=household.id),
        open_items=[],
    )
    return view


def visit_due(*, household_id: int, now: datetime | None = None) -> dict[str, Any]:
    """What is due this month; no visits are recorded yet, so a visit is always due."""
    local = (now or utcnow()).astimezone(CHINA_TZ)
    return {
        "period": f"{local.year:04d}-{local.month:02d}",
        "visit_due": True,
        "last_visit_at": None,
    }


def household_doctor(household: Household) -> Member | None:
    """The member whose contracted doctor goes on the card: the head's, else the first known."""
    members = list(household.members)
    heads = [m for m in members if m.relation == HEAD_RELATION]
    for member in heads + members:
        if member.doctor_name:
            return member
    return None


@dataclass(frozen=True)
class CardSheet:
    """A rendered PDF of a village's cards."""

    village: Region
    count: int
    pdf: bytes


def print_village_cards(*, actor: Actor, village_id: int) -> CardSheet:
    """A4 sheets with one card per household of the village, issuing missing cards."""
    village = load_region_for(actor, village_id, CARD_ROLES)
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("region.not_village", "明白卡按村打印，请选择一个村。")
    households = list(
        db.session.scalars(
            select(Household)
            .where(Household.village_id == village.id)
            .options(selectinload(Household.members), selectinload(Household.region))
            .order_by(Household.region_path, Household.number)
        )
    )
    cards = ensure_village_cards(village_id=village.id, households=households)
    helpers = _current_helpers([h.id for h in households])
    faces = []
    for household in households:
        helper = helpers.get(household.id)
        doctor = household_doctor(household)
        group = household.region if household.region_id != village.id else None
        faces.append(
            CardFace(
                url=card_url(cards[household.id].token),
                village_name=village.name,
                group_name=group.name if group is not None else None,
                head_name=household.head_name,
                household_number=pii.mask_household_number(household.number) or "",
                helper_name=helper.display_name if helper else None,
                helper_phone=helper.phone if helper else None,
                doctor_name=doctor.doctor_name if doctor else None,
                doctor_phone=doctor.doctor_phone if doctor else None,
            )
        )
    config = current_app.config
    pdf = render_cards_pdf(
        faces,
        hotline=config["TOWN_HOTLINE"],
        font_path=resolve_font_path(config.get("CARD_FONT_PATH")),
        title=f"户户清 明白卡 · {village.name}",
    )
    record_event(
        actor=actor,
        action="card.printed",
        region_path=village.path,
        target_type="region",
        target_id=village.id,
        detail={"households": len(faces)},
    )
    return CardSheet(village=village, count=len(faces), pdf=pdf)


def _current_helpers(household_ids: list[int]) -> dict[int, User]:
    if not household_ids:
        return {}
    rows = db.session.execute(
        select(Assignment.household_id, User)
        .join(User, User.id == Assignment.helper_id)
        .where(Assignment.household_id.in_(household_ids), Assignment.end_date.is_(None))
    )
    return {household_id: user for household_id, user in rows}


def _public_view(card: HouseholdCard) -> dict[str, Any]:
    return {
        "view": "public",
        "village_name": card.household.village.name,
        "can_report": True,
        "report_url": card_url(card.token),
        "town_hotline": current_app.config["TOWN_HOTLINE"],
    }


def _record_scan(actor: Actor, card: HouseholdCard, *, view: str) -> None:
    record_event(
        actor=actor,
        action="card.scanned",
        region_path=card.household.region_path,
        target_type="household",
        target_id=card.household_id,
        detail={"card_id": card.id, "view": view},
    )
