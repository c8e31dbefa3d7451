"""Household cards (明白卡): unguessable QR tokens, issue, revoke and reissue."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from backend.extensions import db
from backend.models import CardStatus, Household, HouseholdCard

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_LENGTH = 24  # 24 base62 characters carry ~142 random bits and fit a 32-char scene.


def new_card_token() -> str:
    """A fresh random base62 token of 24 characters (about 142 bits)."""
    return "".join(secrets.choice(_BASE62) for _ in range(TOKEN_LENGTH))


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
    card = active_card_of(household.id)
    if card is None:
        card = HouseholdCard(household_id=household.id, token=new_card_token())
        db.session.add(card)
        db.session.flush()
    return card
