"""Users and role grants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import RoleGrant, User
from backend.services.authz import Actor, require_authenticated


def get_current_user(*, actor: Actor) -> User:
    """The signed-in user with their grants."""
    require_authenticated(actor)
    user = db.session.scalar(
        select(User)
        .where(User.id == actor.user_id)
        .options(selectinload(User.grants).selectinload(RoleGrant.region))
    )
    if user is None:
        raise DomainError("auth.invalid_token")
    return user
