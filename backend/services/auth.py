"""Logins, the service's own bearer tokens, and turning a token into an actor."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from flask import current_app
from sqlalchemy import bindparam, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import AuthToken, Region, Role, RoleGrant, User, utcnow
from backend.services.audit import count_events, record_event, user_region
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
    user = db.session.scalar(select(User).where(User.username == username))

    def refuse(action: str, **detail: Any) -> None:
        # Failures on a known account belong to its region, so that its town sees them; an
        # unknown username belongs to no town. Looked up here only: a login that succeeds
        # gets its region from its target, the account (record_event).
        record_event(
            actor=anonymous,
            action=action,
            subject=username,
            detail=detail or None,
            region_path=user_region(user.id) if user is not None else None,
        )

    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    failures = count_events(action="auth.login_failed", subject=username, since=utcnow() - window)
    if failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        refuse("auth.login_throttled")
        raise DomainError(
            "auth.throttled", details={"retry_after_seconds": int(window.total_seconds())}
        ).keep()

    ok = verify_password(password_hash=user.password_hash if user else None, password=password)
    if not ok or user is None:
        refuse("auth.login_failed")
        raise DomainError("auth.bad_credentials").keep()
    if not user.is_active:
        refuse("auth.login_failed", reason="disabled")
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


# One round trip for token, user and grants, built once: it runs before every authenticated
# request.
_TOKEN_ACTOR_QUERY = (
    select(
        AuthToken.revoked_at,
        AuthToken.expires_at,
        User.id,
        User.display_name,
        User.is_active,
        User.wechat_openid,
        RoleGrant.role,
        RoleGrant.region_id,
        Region.path,
        RoleGrant.office_code,
    )
    .join(User, User.id == AuthToken.user_id)
    .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
    .outerjoin(Region, Region.id == RoleGrant.region_id)
    .where(AuthToken.token_hash == bindparam("token_hash"))
    .order_by(RoleGrant.id)
)


class TokenCache:
    """Actors of recently seen bearer tokens, for ``AUTH_TOKEN_CACHE_SECONDS``, per process.

    Every authenticated request reads its token, user and grants; a phone submitting visits
    sends the same token again and again. Within the time to live a token is not read again,
    so a token revoked by another process (another gunicorn worker) or a user disabled there
    keeps working here for at most that long. Revoking a token in this process drops it at
    once; revoking a user's tokens empties the cache.
    """

    def __init__(self, *, ttl: float, maxsize: int = 10_000) -> None:
        self._entries: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl)
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> tuple[Actor, datetime] | None:
        """The cached (actor, token expiry) of a token hash, if fresh."""
        with self._lock:
            return self._entries.get(token_hash)

    def put(self, token_hash: str, actor: Actor, expires_at: datetime) -> None:
        """Remember a token's actor (without the caller's address) until the time to live."""
        with self._lock:
            self._entries[token_hash] = (replace(actor, ip=None), expires_at)

    def drop(self, token_hash: str | None = None) -> None:
        """Forget one token, or every token when ``token_hash`` is None."""
        with self._lock:
            if token_hash is None:
                self._entries.clear()
            else:
                self._entries.pop(token_hash, None)


_CACHE_KEY = "hhq_token_cache"


def _token_cache() -> TokenCache | None:
    ttl = current_app.config["AUTH_TOKEN_CACHE_SECONDS"]
    if ttl <= 0:
        return None
    cache = current_app.extensions.get(_CACHE_KEY)
    if cache is None:
        cache = current_app.extensions.setdefault(_CACHE_KEY, TokenCache(ttl=ttl))
    return cache


def authenticate_token(*, token: str, ip: str | None) -> Actor:
    """Turn a bearer token into an actor, or raise 401 for forged, expired or revoked ones."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise DomainError("auth.invalid_token")
    token_hash = sha256_hex(token)
    cache = _token_cache()
    cached = cache.get(token_hash) if cache is not None else None
    if cached is not None and cached[1] > utcnow():
        return replace(cached[0], ip=ip)
    rows = db.session.execute(_TOKEN_ACTOR_QUERY, {"token_hash": token_hash}).all()
    if not rows:
        raise DomainError("auth.invalid_token")
    first = rows[0]
    if first.revoked_at is not None:
        raise DomainError("auth.token_revoked")
    if first.expires_at <= utcnow():
        raise DomainError("auth.token_expired")
    if not first.is_active:
        raise DomainError("auth.token_revoked")
    actor = _actor(
        user_id=first.id,
        display_name=first.display_name,
        openid=first.wechat_openid,
        grants=[(r.role, r.region_id, r.path, r.office_code) for r in rows if r.role is not None],
        ip=ip,
    )
    if cache is not None:
        cache.put(token_hash, actor, first.expires_at)
    return actor


def actor_for_user(*, user: User, ip: str | None = None) -> Actor:
    """Build the actor for a user from their role grants."""
    return _actor(
        user_id=user.id,
        display_name=user.display_name,
        openid=user.wechat_openid,
        grants=[(g.role, g.region_id, g.region.path, g.office_code) for g in user.grants],
        ip=ip,
    )


def _actor(
    *,
    user_id: int,
    display_name: str,
    openid: str | None,
    grants: list[tuple[str, int, str, str | None]],
    ip: str | None,
) -> Actor:
    return Actor(
        user_id=user_id,
        display_name=display_name,
        grants=tuple(
            Grant(role=Role(role), region_id=region_id, region_path=path, office_code=office)
            for role, region_id, path, office in grants
        ),
        ip=ip,
        openid=openid,
    )


def revoke_token(*, token: str) -> None:
    """Revoke a bearer token (logout)."""
    token_hash = sha256_hex(token)
    cache = _token_cache()
    if cache is not None:
        cache.drop(token_hash)
    row = db.session.scalar(select(AuthToken).where(AuthToken.token_hash == token_hash))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.flush()


def revoke_user_tokens(*, user_id: int) -> int:
    """Revoke every live token of a user, e.g. when their roles change or they leave."""
    cache = _token_cache()
    if cache is not None:
        cache.drop()
    rows = db.session.scalars(
        select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    db.session.flush()
    return len(rows)
