"""Small references the services put in their views: users by id and name, a household's group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from backend.extensions import db
from backend.models import Household, User


def user_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    """The display names of these users by id (None ids are skipped)."""
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()
    )


def user_ref(user: User | None) -> dict[str, Any] | None:
    """A user as ``{id, display_name}``; None for nobody."""
    if user is None:
        return None
    return {"id": user.id, "display_name": user.display_name}


def user_ref_by_id(user_id: int | None, names: dict[int, str]) -> dict[str, Any] | None:
    """A user as ``{id, display_name}`` from names fetched with ``user_names``; None for nobody."""
    if not user_id:
        return None
    return {"id": user_id, "display_name": names.get(user_id)}


def group_name(household: Household) -> str | None:
    """The name of the household's group (组); None when it sits directly under the village."""
    return household.region.name if household.region_id != household.village_id else None
