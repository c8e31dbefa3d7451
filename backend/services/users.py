"""Users and their role grants, managed by town admins within their scope."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Office, Region, Role, RoleGrant, User
from backend.services.audit import record_event
from backend.services.auth import hash_password, revoke_user_tokens
from backend.services.authz import ADMIN_ROLES, Actor, require_authenticated, require_role

MIN_PASSWORD_LENGTH = 8


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


def _admin_paths(actor: Actor) -> list[str]:
    return actor.paths_for(ADMIN_ROLES)


def _user_in_scope(actor: Actor, user: User) -> bool:
    # A user without grants belongs to no region yet; any admin may pick them up.
    if not user.grants:
        return True
    paths = _admin_paths(actor)
    return any(g.region.path.startswith(p) for g in user.grants for p in paths)


def load_user_for_admin(*, actor: Actor, user_id: int) -> User:
    """Fetch a user an admin may manage, or raise 404/403."""
    require_role(actor, ADMIN_ROLES)
    user = db.session.get(User, user_id)
    if user is None:
        raise DomainError("user.not_found")
    if not _user_in_scope(actor, user):
        raise DomainError("auth.forbidden")
    return user


def list_users(
    *,
    actor: Actor,
    role: str | None = None,
    region_id: int | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[User], int]:
    """Users holding a role inside the admin's scope."""
    require_role(actor, ADMIN_ROLES)
    grant_filter = or_(*[Region.path.startswith(p, autoescape=True) for p in _admin_paths(actor)])
    in_scope = (
        select(RoleGrant.id)
        .join(Region, Region.id == RoleGrant.region_id)
        .where(RoleGrant.user_id == User.id, grant_filter)
    )
    if role:
        in_scope = in_scope.where(RoleGrant.role == role)
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None:
            raise DomainError("region.not_found")
        in_scope = in_scope.where(Region.path.startswith(region.path, autoescape=True))
    query = select(User).where(exists(in_scope))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(User.display_name.like(like), User.username.like(like)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    users = db.session.scalars(
        query.options(selectinload(User.grants).selectinload(RoleGrant.region))
        .order_by(User.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(users), total


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "request.validation",
            fields={"json": {"password": [f"密码至少 {MIN_PASSWORD_LENGTH} 位。"]}},
        )


def create_user(
    *,
    actor: Actor,
    display_name: str,
    username: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    roles: list[dict] | None = None,
) -> User:
    """Create a staff account, optionally with a password and initial role grants."""
    require_role(actor, ADMIN_ROLES)
    if username and db.session.scalar(select(User.id).where(User.username == username)):
        raise DomainError("user.conflict")
    if password is not None:
        _check_password(password)
    user = User(
        username=username or None,
        display_name=display_name,
        phone=phone,
        password_hash=hash_password(password=password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    record_event(actor=actor, action="user.created", target_type="user", target_id=user.id)
    for spec in roles or []:
        grant_role(actor=actor, user_id=user.id, **spec)
    db.session.refresh(user)
    return user


def update_user(
    *,
    actor: Actor,
    user_id: int,
    display_name: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's name, phone, password or active flag."""
    user = load_user_for_admin(actor=actor, user_id=user_id)
    changed: list[str] = []
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name
        changed.append("display_name")
    if phone is not None and phone != user.phone:
        user.phone = phone
        changed.append("phone")
    if password is not None:
        _check_password(password)
        user.password_hash = hash_password(password=password)
        revoke_user_tokens(user_id=user.id)
        changed.append("password")
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            revoke_user_tokens(user_id=user.id)
        changed.append("is_active")
    db.session.flush()
    if changed:
        record_event(
            actor=actor,
            action="user.updated",
            target_type="user",
            target_id=user.id,
            detail={"fields": changed},
        )
    return user


def grant_role(
    *, actor: Actor, user_id: int, role: str, region_id: int, office_code: str | None = None
) -> RoleGrant:
    """Give a user a role over a region inside the admin's own scope."""
    user = load_user_for_admin(actor=actor, user_id=user_id)
    try:
        role_enum = Role(role)
    except ValueError as exc:
        raise DomainError("role.invalid", fields={"json": {"role": ["未知的角色。"]}}) from exc
    region = db.session.get(Region, region_id)
    if region is None or not actor.covers_path(region.path, ADMIN_ROLES):
        raise DomainError("role.invalid", "只能在您管辖的地区内授权。")
    if role_enum == Role.DISTRICT and not actor.has_role(Role.DISTRICT):
        raise DomainError("auth.forbidden", "只有区扶贫办可以授予区级角色。")
    if role_enum == Role.OFFICE:
        if not office_code or db.session.get(Office, office_code) is None:
            raise DomainError(
                "role.invalid",
                fields={"json": {"office_code": ["责任单位角色必须指定有效的单位。"]}},
            )
    elif office_code:
        raise DomainError(
            "role.invalid", fields={"json": {"office_code": ["只有责任单位角色需要指定单位。"]}}
        )
    existing = db.session.scalar(
        select(RoleGrant).where(
            RoleGrant.user_id == user.id,
            RoleGrant.role == role_enum.value,
            RoleGrant.region_id == region.id,
            RoleGrant.office_code.is_(None)
            if office_code is None
            else RoleGrant.office_code == office_code,
        )
    )
    if existing is not None:
        return existing
    grant = RoleGrant(
        user_id=user.id, role=role_enum.value, region_id=region.id, office_code=office_code
    )
    db.session.add(grant)
    db.session.flush()
    record_event(
        actor=actor,
        action="role.granted",
        target_type="user",
        target_id=user.id,
        detail={"role": role_enum.value, "region_code": region.code, "office_code": office_code},
    )
    return grant


def revoke_role(*, actor: Actor, user_id: int, grant_id: int) -> None:
    """Take a role grant away from a user."""
    user = load_user_for_admin(actor=actor, user_id=user_id)
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.user_id != user.id:
        raise DomainError("role.not_found")
    if not actor.covers_path(grant.region.path, ADMIN_ROLES):
        raise DomainError("auth.forbidden")
    detail = {
        "role": grant.role,
        "region_code": grant.region.code,
        "office_code": grant.office_code,
    }
    db.session.delete(grant)
    db.session.flush()
    record_event(
        actor=actor, action="role.revoked", target_type="user", target_id=user.id, detail=detail
    )
