"""Who is acting, and what their roles let them reach.

Every service takes an ``actor`` and scopes its queries with the helpers here; the HTTP layer
only builds the actor from the bearer token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Assignment, Household, Region, Role

# Roles that may see unmasked personal data (ID numbers, phones, health) of households in
# their scope. Offices work on problems and see masked data only.
PII_ROLES = frozenset(
    {Role.HELPER, Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT}
)
# Roles whose reach is the whole region subtree of their grant.
REGION_ROLES = frozenset(
    {Role.VILLAGE_CADRE, Role.OFFICE, Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT}
)
ADMIN_ROLES = frozenset({Role.TOWN_ADMIN, Role.DISTRICT})
CARD_ROLES = frozenset({Role.TOWN_ADMIN, Role.VILLAGE_CADRE, Role.DISTRICT})


@dataclass(frozen=True)
class Grant:
    """A role held over a region subtree."""

    role: Role
    region_id: int
    region_path: str
    office_code: str | None = None


@dataclass(frozen=True)
class Actor:
    """The caller of a service: a signed-in user, or an anonymous visitor."""

    user_id: int | None
    display_name: str = ""
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    ip: str | None = None
    openid: str | None = None

    @classmethod
    def anonymous(cls, *, ip: str | None = None, openid: str | None = None) -> Actor:
        """An actor with no account."""
        return cls(user_id=None, ip=ip, openid=openid)

    @property
    def is_authenticated(self) -> bool:
        """True for a signed-in user."""
        return self.user_id is not None

    @property
    def roles(self) -> frozenset[Role]:
        """All roles the actor holds anywhere."""
        return frozenset(g.role for g in self.grants)

    def has_role(self, *roles: Role) -> bool:
        """True if the actor holds any of ``roles``."""
        return any(g.role in roles for g in self.grants)

    def paths_for(self, roles: Iterable[Role]) -> list[str]:
        """Region paths the actor reaches through any of ``roles``."""
        wanted = set(roles)
        return [g.region_path for g in self.grants if g.role in wanted]

    def covers_path(self, path: str, roles: Iterable[Role]) -> bool:
        """True if one of the actor's grants in ``roles`` covers the region at ``path``."""
        return any(path.startswith(p) for p in self.paths_for(roles))


def require_authenticated(actor: Actor) -> None:
    """Refuse anonymous callers."""
    if not actor.is_authenticated:
        raise DomainError("auth.required")


def require_role(actor: Actor, roles: Iterable[Role]) -> None:
    """Refuse callers that hold none of ``roles``."""
    require_authenticated(actor)
    if not actor.has_role(*roles):
        raise DomainError("auth.forbidden")


def household_scope(actor: Actor, roles: Iterable[Role] | None = None) -> ColumnElement[bool]:
    """A WHERE clause selecting the households ``actor`` may read through ``roles``."""
    roles = set(roles) if roles is not None else set(Role)
    clauses: list[ColumnElement[bool]] = [
        Household.region_path.startswith(p, autoescape=True)
        for p in actor.paths_for(roles & REGION_ROLES)
    ]
    if Role.HELPER in roles and actor.has_role(Role.HELPER) and actor.user_id is not None:
        assigned = select(Assignment.household_id).where(
            Assignment.helper_id == actor.user_id, Assignment.end_date.is_(None)
        )
        clauses.append(Household.id.in_(assigned))
    return or_(*clauses) if clauses else false()


def can_read_household(actor: Actor, household: Household, roles: Iterable[Role] | None = None):
    """True if ``actor`` may read ``household`` through any of ``roles``."""
    roles = set(roles) if roles is not None else set(Role)
    if actor.covers_path(household.region_path, roles & REGION_ROLES):
        return True
    if Role.HELPER in roles and actor.has_role(Role.HELPER) and actor.user_id is not None:
        return is_assigned_helper(actor, household.id)
    return False


def is_assigned_helper(actor: Actor, household_id: int) -> bool:
    """True if ``actor`` is the household's current helper."""
    if actor.user_id is None:
        return False
    row = db.session.execute(
        select(Assignment.id).where(
            Assignment.helper_id == actor.user_id,
            Assignment.household_id == household_id,
            Assignment.end_date.is_(None),
        )
    ).first()
    return row is not None


def can_see_pii(actor: Actor, household: Household) -> bool:
    """True if ``actor`` may see the household's unmasked personal data."""
    return can_read_household(actor, household, PII_ROLES)


def load_household_for(
    actor: Actor, household_id: int, roles: Iterable[Role] | None = None
) -> Household:
    """Fetch a household the actor may read, or 404 without revealing whether it exists."""
    require_authenticated(actor)
    household = db.session.get(Household, household_id)
    if household is None or not can_read_household(actor, household, roles):
        raise DomainError("household.not_found")
    return household


def require_household_role(actor: Actor, household: Household, roles: Iterable[Role]) -> None:
    """Refuse when the actor can see the household but holds none of ``roles`` over it."""
    if not can_read_household(actor, household, roles):
        raise DomainError("auth.forbidden")


def load_region_for(actor: Actor, region_id: int, roles: Iterable[Role]) -> Region:
    """Fetch a region inside the actor's scope for ``roles``, or 404."""
    require_authenticated(actor)
    region = db.session.get(Region, region_id)
    if region is None or not actor.covers_path(region.path, set(Role)):
        raise DomainError("region.not_found")
    if not actor.covers_path(region.path, roles):
        raise DomainError("auth.forbidden")
    return region
