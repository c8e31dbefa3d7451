"""Logins, the service's own bearer tokens, and turning a token into an actor."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import AuthToken, Role, RoleGrant, User, utcnow
from backend.services.audit import count_events, record_event
from backend.services.authz import Actor, Grant

TOKEN_PREFIX = "hhq_"
# A fixed hash to verify against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH_INPUT = "not-a-real-password"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(_DUMMY_HASH_INPUT)


def hash_password(*, password: str) -> str:
    """Hash a password with Argon2id."""
    return _hasher().hash(password)


def verify_password(*, password_hash: str | None, password: str) -> bool:
    """Check a password against its Argon2 hash, in constant-ish time when the hash is missing."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string, used to store secrets we only need to compare."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued bearer token; the plain value is shown exactly once."""

    token: str
    expires_at: datetime
    user: User


def issue_token(*, user: User, method: str) -> IssuedToken:
    """Issue a new bearer token for ``user``."""
    ttl_key = "WECHAT_TOKEN_TTL_SECONDS" if method == "wechat" else "AUTH_TOKEN_TTL_SECONDS"
    expires_at = utcnow() + timedelta(seconds=current_app.config[ttl_key])
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        AuthToken(
            token_hash=sha256_hex(plain), user_id=user.id, method=method, expires_at=expires_at
        )
    )
    user.last_login_at = utcnow()
    db.session.flush()
    return IssuedToken(token=plain, expires_at=expires_at, user=user)


def login_with_password(*, username: str, password: str, ip: str | None) -> IssuedToken:
    """Staff login. Repeated failures for one username are throttled."""
    anonymous = Actor.anonymous(ip=ip)
    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    failures = count_events(action="auth.login_failed", subject=username, since=utcnow() - window)
    if failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        record_event(actor=anonymous, action="auth.login_throttled", subject=username)
        raise DomainError(
            "auth.throttled", details={"retry_after_seconds": int(window.total_seconds())}
        ).keep()

    user = db.session.scalar(select(User).where(User.username == username))
    ok = verify_password(password_hash=user.password_hash if user else None, password=password)
    if not ok or user is None:
        record_event(actor=anonymous, action="auth.login_failed", subject=username)
        raise DomainError("auth.bad_credentials").keep()
    if not user.is_active:
        record_event(
            actor=anonymous,
            action="auth.login_failed",
            subject=username,
            detail={"reason": "disabled"},
        )
        raise DomainError("auth.user_disabled").keep()
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password=password)
    return start_session(user=user, method="password", actor=Actor(user_id=user.id, ip=ip))


def start_session(*, user: User, method: str, actor: Actor) -> IssuedToken:
    """Issue a token after a successful login and write the ``auth.login`` audit row."""
    issued = issue_token(user=user, method=method)
    record_event(
        actor=actor,
        action="auth.login",
        subject=user.username,
        target_type="user",
        target_id=user.id,
        detail={"method": method},
    )
    return issued


def authenticate_token(*, token: str, ip: str | None) -> Actor:
    """Turn a bearer token into an actor, or raise 401 for forged, expired or revoked ones."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise DomainError("auth.invalid_token")
    row = db.session.scalar(select(AuthToken).where(AuthToken.token_hash == sha256_hex(token)))
    if row is None:
        raise DomainError("auth.invalid_token")
    if row.revoked_at is not None:
        raise DomainError("auth.token_revoked")
    if row.expires_at <= utcnow():
        raise DomainError("auth.token_expired")
    user = db.session.scalar(
        select(User)
        .where(User.id == row.user_id)
        .options(selectinload(User.grants).selectinload(RoleGrant.region))
    )
    if user is None or not user.is_active:
        raise DomainError("auth.token_revoked")
    return actor_for_user(user=user, ip=ip)


def actor_for_user(*, user: User, ip: str | None = None) -> Actor:
    """Build the actor for a user from their role grants."""
    grants = tuple(
        Grant(
            role=Role(g.role),
            region_id=g.region_id,
            region_path=g.region.path,
            office_code=g.office_code,
        )
        for g in user.grants
    )
    return Actor(
        user_id=user.id,
        display_name=user.display_name,
        grants=grants,
        ip=ip,
        openid=user.wechat_openid,
    )


def revoke_token(*, token: str) -> None:
    """Revoke a bearer token (logout)."""
    row = db.session.scalar(select(AuthToken).where(AuthToken.token_hash == sha256_hex(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.flush()


def revoke_user_tokens(*, user_id: int) -> int:
    """Revoke every live token of a user, e.g. when their roles change or they leave."""
    rows = db.session.scalars(
        select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    db.session.flush()
    return len(rows)
