"""Reading the region tree within the caller's scope."""

from __future__ import annotations

from sqlalchemy import or_, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Region
from backend.services.authz import Actor, require_authenticated


def _visible_clause(actor: Actor):
    # A grant reveals its own subtree and the ancestors on the way down to it.
    clauses = []
    for grant in actor.grants:
        clauses.append(Region.path.startswith(grant.region_path, autoescape=True))
        ancestors = [c for c in grant.region_path.strip("/").split("/")[:-1] if c]
        if ancestors:
            clauses.append(Region.code.in_(ancestors))
    return or_(*clauses) if clauses else None


def list_regions(
    *, actor: Actor, parent_id: int | None = None, level: str | None = None
) -> list[Region]:
    """Regions the actor can see, optionally the children of one region or one level."""
    require_authenticated(actor)
    visible = _visible_clause(actor)
    if visible is None:
        return []
    query = select(Region).where(visible)
    if parent_id is not None:
        query = query.where(Region.parent_id == parent_id)
    if level:
        query = query.where(Region.level == level)
    return list(db.session.scalars(query.order_by(Region.path)).all())


def get_region(*, actor: Actor, region_id: int) -> Region:
    """One visible region."""
    require_authenticated(actor)
    visible = _visible_clause(actor)
    region = None
    if visible is not None:
        region = db.session.scalar(select(Region).where(Region.id == region_id, visible))
    if region is None:
        raise DomainError("region.not_found")
    return region
