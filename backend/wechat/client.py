"""The adapter to WeChat's mini-program server API.

``WeChatClient`` speaks WeChat's HTTP API and raises ``WeChatError`` (a reply with a non-zero
``errcode``) or ``WeChatUnavailable`` (no reply, or an unreadable one). It never raises
``DomainError``: the services decide what a WeChat error means to our users.

The access_token comes from ``stable_token`` and is cached centrally so every worker shares it:
in Redis when ``REDIS_URL`` is set, otherwise in the ``wechat_access_tokens`` table (written in a
SAVEPOINT of the current transaction, so it is committed with the request that fetched it; losing
it to a rollback only costs one more ``stable_token`` call, which returns the same token). A call
rejected with 40001/42001 gets a fresh token and is retried exactly once.

Secrets never reach a log line or an exception message: not the appsecret (it travels in the
jscode2session query string, which ``requests`` errors quote), not the session_key, not the
access_token.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import requests
from flask import Flask, current_app

log = logging.getLogger(__name__)

# errcodes the rest of the code base names.
ERR_SYSTEM_BUSY = -1
ERR_INVALID_CREDENTIAL = 40001
ERR_INVALID_OPENID = 40003
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_HIGH_RISK_USER = 40226
ERR_ACCESS_TOKEN_EXPIRED = 42001
ERR_NO_SUBSCRIPTION = 43101
ERR_RATE_LIMITED = 45011
# Replies meaning "this access_token is no longer good": refetch once and retry.
TOKEN_REJECTED = frozenset({ERR_INVALID_CREDENTIAL, ERR_ACCESS_TOKEN_EXPIRED})
DEFAULT_TOKEN_MARGIN_SECONDS = 300
EXTENSION_KEY = "hhq.wechat_client"
_ext_lock = threading.Lock()


_SECRET_QUERY = re.compile(r"\b(secret|access_token|js_code)=[^&\s\"']*")


class _RedactQuery(logging.Filter):
    """Blank the secret, access_token and js_code that urllib3 quotes in its DEBUG lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1=***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _install_log_redaction() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())


_install_log_redaction()


class WeChatError(Exception):
    """WeChat answered with a non-zero ``errcode`` (or, for the subclass, not at all)."""

    def __init__(self, errcode: int | None, errmsg: str = "", *, api: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        super().__init__(f"{api or 'wechat'}: errcode={errcode} errmsg={errmsg}")


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached, timed out, or answered something unreadable."""

    def __init__(self, reason: str, *, api: str = "") -> None:
        super().__init__(None, reason, api=api)


@dataclass(frozen=True)
class WeChatSession:
    """The answer of jscode2session. ``session_key`` must never leave the server."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True)
class PhoneInfo:
    """A user's phone number as returned by getuserphonenumber."""

    phone_number: str
    pure_phone_number: str
    country_code: str
    watermark: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SecCheckResult:
    """The overall verdict of msg_sec_check version 2."""

    suggest: str  # pass | review | risky
    label: int  # 100 is normal; others name the category (20001 politics, 20006 crime, …)
    trace_id: str | None = None
    detail: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when WeChat found nothing to review or reject."""
        return self.suggest == "pass"


class AccessTokenCache(Protocol):
    """Where the shared access_token lives between calls and across workers."""

    def get(self, appid: str) -> str | None:
        """The cached token for ``appid``, or None when missing or about to expire."""

    def set(self, appid: str, token: str, ttl_seconds: int) -> None:
        """Cache ``token`` for ``ttl_seconds``."""

    def invalidate(self, appid: str, token: str) -> None:
        """Drop the cached token if it still is ``token``."""


class RedisTokenCache:
    """The access_token in Redis, under a key namespaced by appid, with a TTL."""

    _DELETE_IF_EQUAL = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
        "else return 0 end"
    )

    def __init__(self, redis_client: Any, *, prefix: str = "hhq:wechat:access_token:") -> None:
        self.redis = redis_client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0) -> RedisTokenCache:
        """Connect lazily to the Redis at ``url``."""
        import redis

        return cls(
            redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        )

    def key(self, appid: str) -> str:
        """The Redis key holding ``appid``'s token."""
        return self.prefix + appid

    def get(self, appid: str) -> str | None:
        """The cached token, or None (also when Redis does not answer)."""
        import redis

        try:
            value = self.redis.get(self.key(appid))
        except redis.RedisError as exc:
            log.warning("wechat token cache: redis get failed (%s)", type(exc).__name__)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, appid: str, token: str, ttl_seconds: int) -> None:
        """Store the token with a TTL; a Redis failure only costs a later refetch."""
        import redis

        try:
            self.redis.set(self.key(appid), token, ex=max(int(ttl_seconds), 1))
        except redis.RedisError as exc:
            log.warning("wechat token cache: redis set failed (%s)", type(exc).__name__)

    def invalidate(self, appid: str, token: str) -> None:
        """Delete the key only if it still holds ``token`` (another worker may have refreshed)."""
        import redis

        try:
            self.redis.eval(self._DELETE_IF_EQUAL, 1, self.key(appid), token)
        except redis.RedisError as exc:
            log.warning("wechat token cache: redis delete failed (%s)", type(exc).__name__)


class DatabaseTokenCache:
    """The access_token in the ``wechat_access_tokens`` table (one row per appid)."""

    def get(self, appid: str) -> str | None:
        """The cached token if it has not expired."""
        from sqlalchemy import select

        from backend.extensions import db
        from backend.models import WechatAccessToken, utcnow

        # Column query, not the identity map: another worker may have replaced the row.
        row = db.session.execute(
            select(WechatAccessToken.access_token, WechatAccessToken.expires_at).where(
                WechatAccessToken.appid == appid
            )
        ).first()
        if row is None or row.expires_at <= utcnow():
            return None
        return row.access_token

    def set(self, appid: str, token: str, ttl_seconds: int) -> None:
        """Upsert the row in a SAVEPOINT; losing a race to another worker is fine."""
        from sqlalchemy import update
        from sqlalchemy.exc import IntegrityError

        from backend.extensions import db
        from backend.models import WechatAccessToken, utcnow

        now = utcnow()
        expires_at = now + timedelta(seconds=max(int(ttl_seconds), 1))
        try:
            with db.session.begin_nested():
                result = db.session.execute(
                    update(WechatAccessToken)
                    .where(WechatAccessToken.appid == appid)
                    .values(access_token=token, expires_at=expires_at, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 0:
                    db.session.add(
                        WechatAccessToken(
                            appid=appid, access_token=token, expires_at=expires_at, updated_at=now
                        )
                    )
                    db.session.flush()
        except IntegrityError:
            log.info("wechat token cache: another worker stored the token first")

    def invalidate(self, appid: str, token: str) -> None:
        """Expire the row if it still holds ``token``."""
        from sqlalchemy import update

        from backend.extensions import db
        from backend.models import WechatAccessToken, utcnow

        with db.session.begin_nested():
            db.session.execute(
                update(WechatAccessToken)
                .where(WechatAccessToken.appid == appid, WechatAccessToken.access_token == token)
                .values(expires_at=utcnow())
                .execution_options(synchronize_session=False)
            )


class WeChatClient:
    """WeChat's mini-program server API: login, access_token, phone, content, messages, codes."""

    def __init__(
        self,
        *,
        api_base: str,
        appid: str,
        secret: str,
        token_cache: AccessTokenCache,
        timeout: float = 5.0,
        token_margin_seconds: int = DEFAULT_TOKEN_MARGIN_SECONDS,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.appid = appid
        self._secret = secret
        self.token_cache = token_cache
        self.timeout = timeout
        self.token_margin_seconds = token_margin_seconds
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"WeChatClient(api_base={self.api_base!r}, appid={self.appid!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WeChatClient:
        """Build a client from the Flask config (Redis token cache when REDIS_URL is set)."""
        cache: AccessTokenCache
        if config.get("REDIS_URL"):
            cache = RedisTokenCache.from_url(config["REDIS_URL"])
        else:
            cache = DatabaseTokenCache()
        return cls(
            api_base=config["WECHAT_API_BASE"],
            appid=config["WECHAT_APPID"],
            secret=config["WECHAT_SECRET"],
            token_cache=cache,
            timeout=float(config["WECHAT_TIMEOUT_SECONDS"]),
            token_margin_seconds=int(
                config.get("WECHAT_TOKEN_MARGIN_SECONDS", DEFAULT_TOKEN_MARGIN_SECONDS)
            ),
        )

    # Login.

    def code2session(self, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code for the user's openid (and the session_key)."""
        api = "jscode2session"
        data = self._json(
            api,
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
            raise WeChatUnavailable("reply without openid", api=api)
        unionid = data.get("unionid")
        return WeChatSession(
            openid=openid, session_key=session_key, unionid=unionid if unionid else None
        )

    # access_token.

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The shared access_token: from the cache, else from ``stable_token``."""
        if not force_refresh:
            cached = self.token_cache.get(self.appid)
            if cached:
                return cached
        api = "stable_token"
        data = self._json(
            api,
            "POST",
            "/cgi-bin/stable_token",
            json_body={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self._secret,
                "force_refresh": bool(force_refresh),
            },
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatUnavailable("reply without access_token", api=api)
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        ttl = expires_in - self.token_margin_seconds
        if ttl > 0:
            self.token_cache.set(self.appid, token, ttl)
        return token

    # Calls that take the access_token.

    def get_user_phone_number(self, code: str) -> PhoneInfo:
        """Exchange a ``getPhoneNumber`` button code for the user's phone number."""
        data = self._call_with_token(
            "getuserphonenumber", "/wxa/business/getuserphonenumber", {"code": code}
        )
        info = data.get("phone_info")
        if not isinstance(info, dict) or not info.get("phoneNumber"):
            raise WeChatUnavailable("reply without phone_info", api="getuserphonenumber")
        return PhoneInfo(
            phone_number=str(info["phoneNumber"]),
            pure_phone_number=str(info.get("purePhoneNumber") or info["phoneNumber"]),
            country_code=str(info.get("countryCode") or ""),
            watermark=dict(info.get("watermark") or {}),
        )

    def msg_sec_check(
        self,
        content: str,
        openid: str,
        scene: int,
        *,
        title: str | None = None,
        nickname: str | None = None,
        signature: str | None = None,
    ) -> SecCheckResult:
        """Check a text with WeChat's content security (version 2; scene 1–4)."""
        body: dict[str, Any] = {"content": content, "version": 2, "scene": scene, "openid": openid}
        for key, value in (("title", title), ("nickname", nickname), ("signature", signature)):
            if value is not None:
                body[key] = value
        data = self._call_with_token("msg_sec_check", "/wxa/msg_sec_check", body)
        result = data.get("result")
        if not isinstance(result, dict) or "suggest" not in result:
            raise WeChatUnavailable("reply without result", api="msg_sec_check")
        return SecCheckResult(
            suggest=str(result["suggest"]),
            label=int(result.get("label") or 0),
            trace_id=data.get("trace_id"),
            detail=list(data.get("detail") or []),
        )

    def send_subscribe_message(
        self,
        touser: str,
        template_id: str,
        data: Mapping[str, Any],
        page: str | None = None,
        *,
        miniprogram_state: str | None = None,
        lang: str = "zh_CN",
    ) -> int | None:
        """Send a subscribe message; ``data`` values may be plain strings. Returns the msgid."""
        body: dict[str, Any] = {
            "touser": touser,
            "template_id": template_id,
            "data": {
                key: value if isinstance(value, Mapping) else {"value": str(value)}
                for key, value in data.items()
            },
            "lang": lang,
        }
        if page:
            body["page"] = page
        if miniprogram_state:
            body["miniprogram_state"] = miniprogram_state
        reply = self._call_with_token("subscribe_send", "/cgi-bin/message/subscribe/send", body)
        msgid = reply.get("msgid")
        return int(msgid) if msgid is not None else None

    def get_wxacode_unlimit(
        self,
        scene: str,
        page: str | None = None,
        *,
        check_path: bool = True,
        env_version: str = "release",
        width: int = 430,
        auto_color: bool = False,
        line_color: Mapping[str, int] | None = None,
        is_hyaline: bool = False,
    ) -> bytes:
        """A mini-program code image for ``scene`` (≤ 32 characters) opening ``page``."""
        body: dict[str, Any] = {
            "scene": scene,
            "check_path": check_path,
            "env_version": env_version,
            "width": width,
            "auto_color": auto_color,
            "is_hyaline": is_hyaline,
        }
        if page:
            body["page"] = page
        if line_color is not None:
            body["line_color"] = dict(line_color)
        return self._call_with_token(
            "getwxacodeunlimit", "/wxa/getwxacodeunlimit", body, image=True
        )

    # Plumbing.

    def _call_with_token(self, api: str, path: str, body: dict[str, Any], *, image: bool = False):
        token = self.get_access_token()
        for attempt in (1, 2):
            response = self._send(api, "POST", path, params={"access_token": token}, json_body=body)
            if image and response.headers.get("Content-Type", "").startswith("image/"):
                return response.content
            data = self._parse(api, response)
            if attempt == 1 and _errcode(data) in TOKEN_REJECTED:
                log.info("wechat %s: access_token rejected (%s), refetching", api, _errcode(data))
                token = self._replace_rejected_token(token)
                continue
            self._raise_for_errcode(api, data)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def _replace_rejected_token(self, rejected: str) -> str:
        # Another worker may already have refreshed it; force_refresh would invalidate theirs.
        cached = self.token_cache.get(self.appid)
        if cached and cached != rejected:
            return cached
        self.token_cache.invalidate(self.appid, rejected)
        return self.get_access_token(force_refresh=True)

    def _json(self, api: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self._parse(api, self._send(api, method, path, **kwargs))
        self._raise_for_errcode(api, data)
        return data

    def _http(self) -> requests.Session:
        # requests.Session is not documented as thread-safe: one per thread.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _send(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        headers = {}
        payload = None
        if json_body is not None:
            # Plain UTF-8, not \u escapes: what WeChat's own examples send.
            payload = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self._http().request(
                method,
                self.api_base + path,
                params=params,
                data=payload,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            # The exception text quotes the URL, secret included: keep only its type.
            log.warning("wechat %s: request failed (%s)", api, type(exc).__name__)
            raise WeChatUnavailable(f"request failed: {type(exc).__name__}", api=api) from None
        if response.status_code != 200:
            log.warning("wechat %s: HTTP %s", api, response.status_code)
            raise WeChatUnavailable(f"HTTP {response.status_code}", api=api)
        return response

    @staticmethod
    def _parse(api: str, response: requests.Response) -> dict[str, Any]:
        # jscode2session answers JSON as text/plain: parse the bytes, not the content type.
        try:
            data = json.loads(response.content)
        except ValueError:
            log.warning("wechat %s: reply is not JSON", api)
            raise WeChatUnavailable("reply is not JSON", api=api) from None
        if not isinstance(data, dict):
            raise WeChatUnavailable("reply is not a JSON object", api=api)
        return data

    @staticmethod
    def _raise_for_errcode(api: str, data: Mapping[str, Any]) -> None:
        errcode = _errcode(data)
        if errcode != 0:
            errmsg = str(data.get("errmsg") or "")
            log.warning("wechat %s: errcode=%s errmsg=%s", api, errcode, errmsg)
            raise WeChatError(errcode, errmsg, api=api)


def _errcode(data: Mapping[str, Any]) -> int:
    # A success reply may carry errcode 0, or no errcode at all.
    raw = data.get("errcode")
    if raw in (None, ""):
        return 0
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise WeChatUnavailable("reply with an unreadable errcode") from None


def _config_signature(config: Mapping[str, Any]) -> tuple:
    keys = (
        "WECHAT_API_BASE",
        "WECHAT_APPID",
        "WECHAT_SECRET",
        "WECHAT_TIMEOUT_SECONDS",
        "WECHAT_TOKEN_MARGIN_SECONDS",
        "REDIS_URL",
    )
    return tuple(config.get(k) for k in keys)


def get_wechat_client(app: Flask | None = None) -> WeChatClient:
    """The WeChat client of ``app`` (default: the current app), built once from its config."""
    app = app if app is not None else current_app._get_current_object()
    signature = _config_signature(app.config)
    entry = app.extensions.get(EXTENSION_KEY)
    if entry is None or entry[0] != signature:
        # Rebuilt when the config changes (tests point WECHAT_API_BASE at a fake per test).
        with _ext_lock:
            entry = app.extensions.get(EXTENSION_KEY)
            if entry is None or entry[0] != signature:
                entry = (signature, WeChatClient.from_config(app.config))
                app.extensions[EXTENSION_KEY] = entry
    return entry[1]
