"""Rate limits of villagers' reports (flask-limiter), shared by the JSON API and the web page.

Two limits apply to every submission: one per card token (``REPORT_RATE_LIMIT_PER_CARD``) and
one per client (``REPORT_RATE_LIMIT_PER_CLIENT``): the reporter's openid when a WeChat login
came with the report, otherwise the IP address. The scopes are shared, so a report made from
the mini-program and one made from the web page count against the same card. Photo uploads
have their own buckets, each limit multiplied by ``REPORT_MAX_PHOTOS``.

Every attempt counts, refused ones included, except a replay of an earlier submission (same
``client_uuid``), which a weak connection may send many times: a replay is exempt, so it is
answered with what was stored even once the bucket is empty. Keys are hashed: neither card
tokens nor addresses are written to Redis. Over the limit answers 429 ``request.rate_limited``
with a Chinese message and ``Retry-After``: JSON for the API, an HTML page for the web form.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify, request
from flask.wrappers import Response
from flask_limiter import RequestLimit
from limits import parse_many
from werkzeug.exceptions import HTTPException

from backend.errors import error_body
from backend.extensions import limiter
from backend.services import reports as reports_service

_MAX_CODE_LENGTH = 128
# Per-request state lives in the WSGI environ, not in ``g``: ``g`` belongs to the app context,
# which a test (or a CLI) may keep across several requests.
_STATE = "hhq.report_limits"


def _state() -> dict[str, Any]:
    return request.environ.setdefault(_STATE, {})


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else None
    return body if isinstance(body, dict) else {}


def _form_field(name: str) -> str | None:
    # Key functions must not raise: flask-limiter would take it for a dead storage. A body
    # too large to parse is refused by the view itself right after.
    try:
        return request.form.get(name)
    except HTTPException:
        return None


def card_key() -> str:
    """The card token of the request (URL, JSON body or form field), hashed."""
    token = (request.view_args or {}).get("token")
    if token is None:
        if request.mimetype == "multipart/form-data":
            token = _form_field("card_token")
        else:
            token = _json_body().get("card_token")
    return "card:" + _digest(str(token or ""))


def reporter_openid() -> str | None:
    """The openid of the ``wechat_code`` sent with this request (asked of WeChat once)."""
    state = _state()
    if "openid" not in state:
        code = _json_body().get("wechat_code")
        valid = isinstance(code, str) and 0 < len(code) <= _MAX_CODE_LENGTH
        state["openid"] = reports_service.openid_for_code(code=code) if valid else None
    return state["openid"]


def client_key() -> str:
    """The reporter's openid when known, else the IP address, hashed."""
    openid = reporter_openid()
    if openid:
        return "openid:" + _digest(openid)
    return "ip:" + _digest(request.remote_addr or "")


def mark_replay(replayed: bool) -> None:
    """Tell the limiter that this request only replayed an earlier submission (not counted)."""
    _state()["replayed"] = replayed


def _is_replay() -> bool:
    # A resent submission is answered from what is stored, even once the bucket is empty.
    state = _state()
    if "stored" not in state:
        state["stored"] = _stored_submission()
    return state["stored"]


def _stored_submission() -> bool:
    client_uuid = _json_body().get("client_uuid") if request.is_json else None
    if client_uuid is None and request.mimetype == "multipart/form-data":
        client_uuid = _form_field("client_uuid")
    if not isinstance(client_uuid, str) or not client_uuid:
        return False
    photos = request.mimetype == "multipart/form-data" and "token" not in (request.view_args or {})
    return reports_service.is_stored_submission(client_uuid=client_uuid, photo=photos)


def _counts(_response: Response) -> bool:
    return not _state().get("replayed", False)


def _provider(setting: str, *, photos: bool) -> Callable[[], str]:
    def limits() -> str:
        value = current_app.config[setting]
        if not photos:
            return value
        factor = max(int(current_app.config["REPORT_MAX_PHOTOS"]), 1)
        return ";".join(
            f"{item.amount * factor} per {item.multiples} {item.GRANULARITY.name}"
            for item in parse_many(value)
        )

    return limits


def retry_after_seconds(limit: RequestLimit) -> int:
    """Seconds until the breached window resets (at least one)."""
    return max(int(limit.reset_at - time.time()), 1)


def breach_message(seconds: int) -> str:
    """The Chinese message of a breached limit, with the wait and the hotline."""
    minutes = max(round(seconds / 60), 1)
    wait = f"{round(minutes / 60)} 小时" if minutes >= 120 else f"{minutes} 分钟"
    hotline = current_app.config["TOWN_HOTLINE"]
    return f"提交过于频繁，请约 {wait}后再试；如有急事，请拨打镇扶贫办热线 {hotline}。"


def json_breach(limit: RequestLimit) -> Response:
    """The API's 429: the one JSON error shape, code ``request.rate_limited``."""
    seconds = retry_after_seconds(limit)
    response = jsonify(error_body("request.rate_limited", breach_message(seconds)))
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


def report_rate_limits(
    *, on_breach: Callable[[RequestLimit], Response] = json_breach, photos: bool = False
) -> Callable:
    """Decorate a view with the per-card and per-client limits of reports (or of photos)."""
    kind = "report-photo" if photos else "report"

    def limit(setting: str, per: str, key_func: Callable[[], str]) -> Callable:
        return limiter.shared_limit(
            _provider(setting, photos=photos),
            scope=f"{kind}-{per}",
            key_func=key_func,
            exempt_when=_is_replay,
            deduct_when=_counts,
            on_breach=on_breach,
        )

    per_card = limit("REPORT_RATE_LIMIT_PER_CARD", "card", card_key)
    per_client = limit("REPORT_RATE_LIMIT_PER_CLIENT", "client", client_key)

    def decorate(view: Callable) -> Callable:
        return per_card(per_client(view))

    return decorate
