"""WeChat login, binding a WeChat account to a staff account, and one-time binding codes.

A staff member's WeChat is bound to their account once, with a binding code a town admin gives
them: the mini-program logs in (``login_with_wechat``); an unbound openid gets a short-lived signed
bind ticket; the person enters the binding code (``bind_wechat``) and from then on WeChat logs
them straight in. A lost phone means a new WeChat: the admin issues a new code and the person
binds again, which moves the binding and revokes the tokens of the old WeChat.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import AuthToken, BindingCode, RoleGrant, User, utcnow
from backend.services.audit import count_events, record_event
from backend.services.auth import IssuedToken, sha256_hex, start_session
from backend.services.authz import ADMIN_ROLES, Actor, require_role
from backend.wechat import WeChatError, get_wechat_client
from backend.wechat.client import (
    ERR_CODE_USED,
    ERR_HIGH_RISK_USER,
    ERR_INVALID_CODE,
    ERR_RATE_LIMITED,
    ERR_SYSTEM_BUSY,
    WeChatUnavailable,
)

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: the code is read aloud or copied from a slip of paper.
BINDING_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
BINDING_CODE_LENGTH = 8
_BIND_TICKET_SALT = "hhq.wechat.bind-ticket.v1"
_JSCODE2SESSION_ERRORS = {
    ERR_INVALID_CODE: "wechat.code_invalid",
    # A code is single-use; to the person it is the same as an invalid one: log in again.
    ERR_CODE_USED: "wechat.code_invalid",
    ERR_RATE_LIMITED: "wechat.rate_limited",
    ERR_HIGH_RISK_USER: "wechat.user_blocked",
    ERR_SYSTEM_BUSY: "wechat.busy",
}


@dataclass(frozen=True)
class WechatLoginResult:
    """Either a token (status ``ok``) or a bind ticket (status ``binding_required``)."""

    status: str
    issued: IssuedToken | None = None
    bind_ticket: str | None = None


@dataclass(frozen=True)
class IssuedBindingCode:
    """A fresh binding code; the plain value is shown exactly once."""

    code: str
    expires_at: datetime
    user: User


def wechat_error_to_domain(exc: WeChatError) -> DomainError:
    """Map a WeChat login failure to the catalogued error shown to the person."""
    if isinstance(exc, WeChatUnavailable):
        return DomainError("wechat.unavailable")
    code = _JSCODE2SESSION_ERRORS.get(exc.errcode, "wechat.error")
    return DomainError(code, details={"errcode": exc.errcode})


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_BIND_TICKET_SALT)


def make_bind_ticket(*, openid: str) -> str:
    """Sign a short-lived ticket carrying the openid (never the session_key)."""
    return _serializer().dumps({"openid": openid})


def read_bind_ticket(*, ticket: str) -> str | None:
    """The openid of a valid, unexpired ticket, else None."""
    try:
        data = _serializer().loads(ticket, max_age=current_app.config["BIND_TICKET_TTL_SECONDS"])
    except (SignatureExpired, BadSignature):
        return None
    openid = data.get("openid") if isinstance(data, dict) else None
    return openid if isinstance(openid, str) and openid else None


def login_with_wechat(*, code: str, ip: str | None) -> WechatLoginResult:
    """Log in with a ``wx.login`` code: a token when bound, else a bind ticket."""
    try:
        session = get_wechat_client().code2session(code)
    except WeChatError as exc:
        raise wechat_error_to_domain(exc) from None
    # Only the openid goes further; the session_key stays in this frame.
    openid = session.openid
    user = db.session.scalar(select(User).where(User.wechat_openid == openid))
    if user is None:
        return WechatLoginResult(
            status="binding_required", bind_ticket=make_bind_ticket(openid=openid)
        )
    if not user.is_active:
        record_event(
            actor=Actor.anonymous(ip=ip, openid=openid),
            action="auth.login_failed",
            subject=user.username,
            target_type="user",
            target_id=user.id,
            detail={"method": "wechat", "reason": "disabled"},
        )
        raise DomainError("auth.user_disabled").keep()
    issued = start_session(
        user=user, method="wechat", actor=Actor(user_id=user.id, ip=ip, openid=openid)
    )
    return WechatLoginResult(status="ok", issued=issued)


def normalise_binding_code(code: str) -> str:
    """Upper-case the code and drop the spaces and dashes people type in."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def _bind_failed(*, ip: str | None, openid: str | None, reason: str, **detail) -> DomainError:
    record_event(
        actor=Actor.anonymous(ip=ip, openid=openid),
        action="auth.wechat_bind_failed",
        subject=openid,
        detail={"reason": reason, **detail},
    )
    code = {
        "ticket": "auth.bind_ticket_invalid",
        "already_bound": "auth.already_bound",
        "disabled": "auth.user_disabled",
    }.get(reason, "auth.binding_code_invalid")
    # Keep the audit row although the request fails.
    return DomainError(code).keep()


def bind_wechat(*, bind_ticket: str, binding_code: str, ip: str | None) -> IssuedToken:
    """Bind the ticket's openid to the binding code's user and log them in."""
    openid = read_bind_ticket(ticket=bind_ticket)
    if openid is None:
        raise _bind_failed(ip=ip, openid=None, reason="ticket")

    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    failures = count_events(
        action="auth.wechat_bind_failed", subject=openid, since=utcnow() - window
    )
    if failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        record_event(
            actor=Actor.anonymous(ip=ip, openid=openid),
            action="auth.wechat_bind_throttled",
            subject=openid,
        )
        raise DomainError(
            "auth.throttled", details={"retry_after_seconds": int(window.total_seconds())}
        ).keep()

    now = utcnow()
    row = db.session.scalar(
        select(BindingCode).where(
            BindingCode.code_hash == sha256_hex(normalise_binding_code(binding_code))
        )
    )
    if row is None:
        raise _bind_failed(ip=ip, openid=openid, reason="unknown_code")
    if row.used_at is not None:
        raise _bind_failed(ip=ip, openid=openid, reason="used_code", binding_code_id=row.id)
    if row.expires_at <= now:
        raise _bind_failed(ip=ip, openid=openid, reason="expired_code", binding_code_id=row.id)
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise _bind_failed(ip=ip, openid=openid, reason="disabled", binding_code_id=row.id)
    holder = db.session.scalar(select(User.id).where(User.wechat_openid == openid))
    if holder is not None and holder != user.id:
        raise _bind_failed(
            ip=ip, openid=openid, reason="already_bound", binding_code_id=row.id, user_id=user.id
        )

    # Consume the code atomically: of two concurrent binds with one code, one wins.
    consumed = db.session.execute(
        update(BindingCode)
        .where(
            BindingCode.id == row.id, BindingCode.used_at.is_(None), BindingCode.expires_at > now
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if consumed != 1:
        raise _bind_failed(ip=ip, openid=openid, reason="used_code", binding_code_id=row.id)

    previous_openid = user.wechat_openid
    rebound = previous_openid is not None and previous_openid != openid
    try:
        with db.session.begin_nested():
            user.wechat_openid = openid
            db.session.flush()
    except IntegrityError:
        # Another request bound this openid in the meantime.
        raise DomainError("auth.already_bound") from None
    revoked = _revoke_wechat_tokens(user_id=user.id) if rebound else 0
    detail: dict = {"binding_code_id": row.id, "rebound": rebound}
    if rebound:
        # The "lost phone" path: keep who the account was bound to before.
        detail.update(previous_openid=previous_openid, revoked_tokens=revoked)
    actor = Actor(user_id=user.id, ip=ip, openid=openid)
    record_event(
        actor=actor,
        action="auth.wechat_bound",
        subject=user.username,
        target_type="user",
        target_id=user.id,
        detail=detail,
    )
    return start_session(user=user, method="wechat", actor=actor)


def _revoke_wechat_tokens(*, user_id: int) -> int:
    rows = db.session.scalars(
        select(AuthToken).where(
            AuthToken.user_id == user_id,
            AuthToken.method == "wechat",
            AuthToken.revoked_at.is_(None),
        )
    ).all()
    now = utcnow()
    for token in rows:
        token.revoked_at = now
    db.session.flush()
    return len(rows)


def _new_binding_code(*, user: User, created_by_id: int | None) -> tuple[IssuedBindingCode, int]:
    now = utcnow()
    # A new code replaces every older unused one.
    invalidated = db.session.execute(
        update(BindingCode)
        .where(
            BindingCode.user_id == user.id,
            BindingCode.used_at.is_(None),
            BindingCode.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    plain = "".join(secrets.choice(BINDING_CODE_ALPHABET) for _ in range(BINDING_CODE_LENGTH))
    expires_at = now + timedelta(seconds=current_app.config["BINDING_CODE_TTL_SECONDS"])
    db.session.add(
        BindingCode(
            code_hash=sha256_hex(plain),
            user_id=user.id,
            created_by_id=created_by_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    db.session.flush()
    return IssuedBindingCode(code=plain, expires_at=expires_at, user=user), invalidated


def issue_binding_code(*, actor: Actor, user_id: int) -> IssuedBindingCode:
    """Issue a one-time binding code for a user in the town admin's (or district's) scope."""
    require_role(actor, ADMIN_ROLES)
    user = db.session.scalar(
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.grants).selectinload(RoleGrant.region))
    )
    if user is None:
        raise DomainError("user.not_found")
    if not any(actor.covers_path(g.region.path, ADMIN_ROLES) for g in user.grants):
        raise DomainError("auth.forbidden")
    if not user.is_active:
        raise DomainError("auth.user_disabled", "该账号已停用，不能发放绑定码。")
    issued, invalidated = _new_binding_code(user=user, created_by_id=actor.user_id)
    record_event(
        actor=actor,
        action="auth.binding_code_issued",
        subject=user.username,
        target_type="user",
        target_id=user.id,
        detail={"expires_at": issued.expires_at.isoformat(), "invalidated": invalidated},
    )
    return issued


def issue_binding_code_by_operator(*, username: str) -> IssuedBindingCode:
    """Issue a binding code from the command line (no actor: the operator runs the server)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise DomainError("user.not_found")
    if not user.is_active:
        raise DomainError("auth.user_disabled", "该账号已停用，不能发放绑定码。")
    issued, invalidated = _new_binding_code(user=user, created_by_id=None)
    record_event(
        actor=None,
        action="auth.binding_code_issued",
        subject=user.username,
        target_type="user",
        target_id=user.id,
        detail={
            "expires_at": issued.expires_at.isoformat(),
            "invalidated": invalidated,
            "via": "cli",
        },
    )
    return issued
