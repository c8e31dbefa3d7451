"""A fake of the WeChat mini-program server API, for development and tests.

Run it with ``python -m backend.wechat.fake_server --port 8009`` and point ``WECHAT_API_BASE`` at
``http://127.0.0.1:8009``. It checks the appid and secret it was started with (by default the
``WECHAT_APPID`` / ``WECHAT_SECRET`` of the environment, else the development values), answers
with WeChat's documented reply shapes and error codes (HTTP 200 with ``errcode``/``errmsg``, as
WeChat does), and keeps its state in memory behind one lock. It writes no access log (request
lines quote the appsecret) unless started with ``--access-log``.

Endpoints
---------
``GET /sns/jscode2session``              login: js_code → openid, session_key, unionid
``POST /cgi-bin/stable_token``           access_token (normal and force_refresh modes)
``POST /wxa/business/getuserphonenumber`` phone number from a getPhoneNumber code
``POST /wxa/msg_sec_check``              text content security, version 2
``POST /cgi-bin/message/subscribe/send`` subscribe messages (recorded, per-openid quota)
``POST /wxa/getwxacodeunlimit``          a PNG whose QR code encodes the scene

Every endpoint that takes ``access_token`` answers 41001 when it is missing, 40001 when it is
unknown or was invalidated (by a force_refresh or ``/_fake/access_token/invalidate``) and 42001
when it has expired (``/_fake/access_token/expire``).

Development codes
-----------------
``js_code`` for jscode2session (each code works once; a reuse answers 40163):

- ``dev-<name>``: success; openid = ``fake_openid(<name>)``, unionid = ``fake_unionid(<name>)``,
  session_key = ``fake_session_key(<code>)``. Add ``~<anything>`` (``dev-alice~2``) to get a fresh
  code for the same person: the part after ``~`` is ignored when deriving the openid.
- ``dev0-<name>``: the same, but the success reply also carries ``"errcode": 0, "errmsg": "ok"``.
- ``err-<errcode>``: that error, e.g. ``err-40029`` invalid code, ``err-45011`` rate limit,
  ``err-40226`` high-risk user, ``err--1`` system busy, ``err-40163`` code used, ``err-99999``.
- ``err-html``: an HTTP 502 HTML page instead of JSON (an unreadable reply).
- anything else: 40029 invalid code.

``code`` for getuserphonenumber (each code works once; a reuse answers 40029):

- ``phone-<digits>``: that phone number (country code 86).
- ``dev-<name>``: a phone number derived from ``<name>`` (``fake_phone(<name>)``).
- ``err-<errcode>``: that error; anything else: 40029.

msg_sec_check: content (and title, nickname, signature) containing a *risky* word gives
``suggest: risky``, a *review* word ``suggest: review`` (with the word's label), otherwise
``pass``/100. Words are set with ``POST /_fake/sec_words``; defaults in ``DEFAULT_RISKY_WORDS`` and
``DEFAULT_REVIEW_WORDS``. An openid is valid when it looks like WeChat's (``o`` + 27 characters of
``[A-Za-z0-9_-]``), which every ``fake_openid`` does; otherwise 40003.

subscribe/send: template ids are valid when they are 8–64 characters of ``[A-Za-z0-9_-]``
(else 40037); ``data`` must map keys to ``{"value": "..."}`` (else 47003); an openid whose quota
was set (``POST /_fake/quota``) spends one per message and answers 43101 at zero.

getwxacodeunlimit: scene must be 1–32 characters (else 40169) of the documented alphabet (else
40129); page must not start with ``/`` or carry a query (else 41030); ``env_version`` must be
release/trial/develop and ``width`` 280–1280 (else 40097).

Test control (not part of WeChat)
---------------------------------
``POST /_fake/reset``                     forget everything (tokens, used codes, calls, messages)
``GET  /_fake/access_token``              the current access_token
``POST /_fake/access_token/invalidate``   the current token now answers 40001
``POST /_fake/access_token/expire``       the current token now answers 42001
``GET  /_fake/calls``                     calls received: api, method, errcode, params (no secret)
``GET  /_fake/messages``                  subscribe messages sent
``POST /_fake/quota``                     ``{"quotas": {openid: n}, "no_quota": [openid, ...]}``
``POST /_fake/sec_words``                 ``{"risky": {word: label} | [word], "review": ...}``
``POST /_fake/outage``                    ``{"http_status": 503}``: every WeChat API answers that
                                          status with an HTML page; ``null`` ends the outage
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import qrcode
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.serving import WSGIRequestHandler, run_simple

from backend.config import env_value

DEV_APPID = "wx-dev-appid"
DEV_SECRET = "wx-dev-secret"
TOKEN_TTL_SECONDS = 7200
DEFAULT_RISKY_WORDS: dict[str, int] = {"赌博": 20006, "色情": 20002, "fake-risky": 20006}
DEFAULT_REVIEW_WORDS: dict[str, int] = {"代开发票": 10001, "fake-review": 21000}

ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40097: "invalid args",
    40125: "invalid appsecret",
    40129: "invalid scene",
    40163: "code been used",
    40169: "invalid length for scene, or the data is not json string",
    40226: "high risk user, login is blocked",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43002: "require POST method",
    43101: "user refuse to accept the msg",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid! data.value invalid",
}
_OPENID_RE = re.compile(r"^o[A-Za-z0-9_-]{27}$")
_TEMPLATE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$")
_PAGE_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
_EXT_KEY = "fake_wechat"


def fake_openid(name: str) -> str:
    """The openid the fake gives the person ``name`` (``js_code`` ``dev-<name>``)."""
    digest = hashlib.sha256(f"fake-wechat-openid:{name}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def fake_unionid(name: str) -> str:
    """The unionid the fake gives the person ``name``."""
    digest = hashlib.sha256(f"fake-wechat-unionid:{name}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def fake_session_key(code: str) -> str:
    """The session_key the fake answers for ``js_code`` ``code`` (16 bytes, base64)."""
    return base64.b64encode(
        hashlib.sha256(f"fake-wechat-sk:{code}".encode()).digest()[:16]
    ).decode()


def fake_phone(name: str) -> str:
    """The phone number the fake answers for the phone code ``dev-<name>``."""
    digits = int.from_bytes(hashlib.sha256(f"fake-wechat-phone:{name}".encode()).digest()[:8])
    return "138" + f"{digits % 10**8:08d}"


@dataclass
class FakeState:
    """Everything the fake remembers. Guard every access with ``lock``."""

    appid: str
    secret: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    current_token: str | None = None
    # token -> expiry (epoch seconds); invalidated tokens are removed.
    tokens: dict[str, float] = field(default_factory=dict)
    used_login_codes: set[str] = field(default_factory=set)
    used_phone_codes: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    risky_words: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RISKY_WORDS))
    review_words: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_REVIEW_WORDS))
    next_msgid: int = 1
    # An HTTP status every WeChat API answers while set (an outage of WeChat itself).
    outage_status: int | None = None

    def reset(self) -> None:
        """Forget every token, code, call, message, quota and word-list change."""
        with self.lock:
            self.current_token = None
            self.tokens.clear()
            self.used_login_codes.clear()
            self.used_phone_codes.clear()
            self.calls.clear()
            self.messages.clear()
            self.quotas.clear()
            self.risky_words = dict(DEFAULT_RISKY_WORDS)
            self.review_words = dict(DEFAULT_REVIEW_WORDS)
            self.next_msgid = 1
            self.outage_status = None

    def issue_token(self) -> str:
        """Issue a new access_token, invalidating the previous one."""
        with self.lock:
            if self.current_token is not None:
                self.tokens.pop(self.current_token, None)
            token = "fake-at-" + secrets.token_urlsafe(24)
            self.tokens[token] = time.time() + TOKEN_TTL_SECONDS
            self.current_token = token
            return token

    def invalidate_current_token(self) -> str | None:
        """Make the current token answer 40001, as if another party force-refreshed it."""
        with self.lock:
            token = self.current_token
            if token is not None:
                self.tokens.pop(token, None)
            self.current_token = None
            return token

    def expire_current_token(self) -> str | None:
        """Make the current token answer 42001."""
        with self.lock:
            token = self.current_token
            if token is not None:
                self.tokens[token] = time.time() - 1
            return token

    def token_errcode(self, token: str | None) -> int:
        """0 for a live token, else the errcode WeChat answers for it."""
        with self.lock:
            if not token:
                return 41001
            expires = self.tokens.get(token)
            if expires is None:
                return 40001
            return 42001 if expires <= time.time() else 0


def _state() -> FakeState:
    return current_app.extensions[_EXT_KEY]


def _rid() -> str:
    return secrets.token_hex(4) + "-" + secrets.token_hex(4)


def _error_body(errcode: int) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{ERRMSGS.get(errcode, 'error')}, rid: {_rid()}"}


def _record(api: str, errcode: int | None, **extra: Any) -> None:
    params = {k: v for k, v in request.args.items() if k not in ("secret", "access_token")}
    entry = {"api": api, "method": request.method, "errcode": errcode, "params": params, **extra}
    state = _state()
    with state.lock:
        state.calls.append(entry)


def _fail(api: str, errcode: int, *, mimetype: str = "application/json", **extra: Any):
    """Record the call and answer WeChat's error document (HTTP 200, as WeChat does)."""
    _record(api, errcode, **extra)
    response = jsonify(_error_body(errcode))
    response.mimetype = mimetype
    return response


def _ok(api: str, response: Response, **extra: Any) -> Response:
    """Record a successful call and pass its response through."""
    _record(api, 0, **extra)
    return response


def _json_body() -> dict | None:
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else None


def _code_errcode(code: str) -> int | None:
    """The errcode an ``err-<n>`` code asks for, or None."""
    if code.startswith("err-"):
        try:
            return int(code[4:])
        except ValueError:
            return None
    return None


def _check_credentials(appid: Any, secret: Any) -> int:
    state = _state()
    if not appid:
        return 41002
    if not secret:
        return 41004
    if appid != state.appid:
        return 40013
    if secret != state.secret:
        return 40125
    return 0


def _token_guard(api: str) -> Response | None:
    errcode = _state().token_errcode(request.args.get("access_token"))
    return _fail(api, errcode) if errcode else None


def create_fake_wechat_app(*, appid: str = DEV_APPID, secret: str = DEV_SECRET) -> Flask:
    """Build the fake WeChat server as a plain Flask app."""
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.extensions[_EXT_KEY] = FakeState(appid=appid, secret=secret)

    @app.before_request
    def simulated_outage():
        """Answer every WeChat API with the outage status while one is set."""
        status = _state().outage_status
        if status is None or request.path.startswith("/_fake/"):
            return None
        _record(request.path, None, http_status=status)
        return Response(f"<html><body>{status}</body></html>", status, mimetype="text/html")

    @app.get("/sns/jscode2session")
    def jscode2session():
        """Exchange a wx.login code for openid and session_key."""
        api = "jscode2session"
        args = request.args
        plain = "text/plain"  # WeChat answers this endpoint as text/plain JSON
        errcode = _check_credentials(args.get("appid"), args.get("secret"))
        if errcode:
            return _fail(api, errcode, mimetype=plain)
        if args.get("grant_type") != "authorization_code":
            return _fail(api, 40002, mimetype=plain)
        code = args.get("js_code", "")
        if not code:
            return _fail(api, 41008, mimetype=plain)
        if code == "err-html":
            _record(api, None, http_status=502)
            return Response("<html><body>502 Bad Gateway</body></html>", 502, mimetype="text/html")
        wanted = _code_errcode(code)
        if wanted is not None:
            return _fail(api, wanted, mimetype=plain)
        prefix, _, rest = code.partition("-")
        name = rest.split("~", 1)[0]
        if prefix not in ("dev", "dev0") or not name:
            return _fail(api, 40029, mimetype=plain)
        state = _state()
        with state.lock:
            if code in state.used_login_codes:
                return _fail(api, 40163, mimetype=plain)
            state.used_login_codes.add(code)
        body: dict[str, Any] = {
            "openid": fake_openid(name),
            "session_key": fake_session_key(code),
            "unionid": fake_unionid(name),
        }
        if prefix == "dev0":
            body = {"errcode": 0, "errmsg": "ok", **body}
        response = jsonify(body)
        response.mimetype = plain
        return _ok(api, response)

    @app.route("/cgi-bin/stable_token", methods=["GET", "POST"])
    def stable_token():
        """Issue the stable access_token; force_refresh replaces (and invalidates) it."""
        api = "stable_token"
        if request.method != "POST":
            return _fail(api, 43002)
        body = _json_body()
        if body is None:
            return _fail(api, 47001)
        force = bool(body.get("force_refresh"))
        if body.get("grant_type") != "client_credential":
            return _fail(api, 40002, force_refresh=force)
        errcode = _check_credentials(body.get("appid"), body.get("secret"))
        if errcode:
            return _fail(api, errcode, force_refresh=force)
        state = _state()
        with state.lock:
            live = state.current_token and state.token_errcode(state.current_token) == 0
            token = state.current_token if live and not force else state.issue_token()
            expires_in = round(state.tokens[token] - time.time())
        return _ok(
            api, jsonify({"access_token": token, "expires_in": expires_in}), force_refresh=force
        )

    @app.post("/wxa/business/getuserphonenumber")
    def getuserphonenumber():
        """Exchange a getPhoneNumber code for the user's phone number."""
        api = "getuserphonenumber"
        if (denied := _token_guard(api)) is not None:
            return denied
        body = _json_body()
        if body is None:
            return _fail(api, 47001)
        code = str(body.get("code") or "")
        wanted = _code_errcode(code)
        if wanted is not None:
            return _fail(api, wanted)
        if code.startswith("phone-") and code[6:].isdigit():
            number = code[6:]
        elif code.startswith("dev-") and len(code) > 4:
            number = fake_phone(code[4:])
        else:
            return _fail(api, 40029)
        state = _state()
        with state.lock:
            if code in state.used_phone_codes:
                return _fail(api, 40029)
            state.used_phone_codes.add(code)
        phone_info = {
            "phoneNumber": number,
            "purePhoneNumber": number,
            "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": state.appid},
        }
        return _ok(api, jsonify({"errcode": 0, "errmsg": "ok", "phone_info": phone_info}))

    @app.post("/wxa/msg_sec_check")
    def msg_sec_check():
        """Check a text against the configured risky and review words (version 2)."""
        api = "msg_sec_check"
        if (denied := _token_guard(api)) is not None:
            return denied
        body = _json_body()
        content = body.get("content") if body else None
        if body is None or not isinstance(content, str) or body.get("version") != 2:
            return _fail(api, 47001)
        if body.get("scene") not in (1, 2, 3, 4):
            return _fail(api, 40129)
        openid = body.get("openid")
        if not isinstance(openid, str) or not _OPENID_RE.match(openid):
            return _fail(api, 40003)
        text = " ".join(
            str(body.get(k) or "") for k in ("content", "title", "nickname", "signature")
        )
        state = _state()
        with state.lock:
            risky = dict(state.risky_words)
            review = dict(state.review_words)
        suggest, label, keyword = "pass", 100, None
        for words, verdict in ((risky, "risky"), (review, "review")):
            hit = next((w for w in words if w and w in text), None)
            if hit is not None:
                suggest, label, keyword = verdict, words[hit], hit
                break
        model = {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label}
        detail: list[dict[str, Any]] = [{**model, "prob": 90 if keyword else 0}]
        if keyword is not None:
            detail.append({**model, "strategy": "keyword", "level": 20, "keyword": keyword})
        reply = {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": detail,
            "trace_id": f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}",
        }
        return _ok(api, jsonify(reply), suggest=suggest)

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send():
        """Send a subscribe message, spending the recipient's quota when one was set."""
        api = "subscribe_send"
        if (denied := _token_guard(api)) is not None:
            return denied
        body = _json_body()
        if body is None:
            return _fail(api, 47001)
        touser = body.get("touser")
        if not isinstance(touser, str) or not _OPENID_RE.match(touser):
            return _fail(api, 40003)
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or not _TEMPLATE_RE.match(template_id):
            return _fail(api, 40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return _fail(api, 47003)
        state = _state()
        with state.lock:
            remaining = state.quotas.get(touser)
            if remaining is not None and remaining <= 0:
                return _fail(api, 43101)
            if remaining is not None:
                state.quotas[touser] = remaining - 1
            msgid = state.next_msgid
            state.next_msgid += 1
            state.messages.append(
                {
                    "msgid": msgid,
                    "touser": touser,
                    "template_id": template_id,
                    "page": body.get("page"),
                    "data": data,
                    "miniprogram_state": body.get("miniprogram_state"),
                    "lang": body.get("lang"),
                    "at": time.time(),
                }
            )
        return _ok(api, jsonify({"errcode": 0, "errmsg": "ok", "msgid": msgid}))

    @app.post("/wxa/getwxacodeunlimit")
    def getwxacodeunlimit():
        """Answer a PNG whose QR code encodes the scene (JSON on error)."""
        api = "getwxacodeunlimit"
        if (denied := _token_guard(api)) is not None:
            return denied
        body = _json_body()
        if body is None:
            return _fail(api, 47001)
        scene = body.get("scene")
        if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
            return _fail(api, 40169)
        if not _SCENE_RE.match(scene):
            return _fail(api, 40129)
        page = body.get("page")
        if page not in (None, "") and (not isinstance(page, str) or not _PAGE_RE.match(page)):
            return _fail(api, 41030)
        width = body.get("width", 430)
        env_version = body.get("env_version", "release")
        if env_version not in ("release", "trial", "develop") or not (
            isinstance(width, int) and 280 <= width <= 1280
        ):
            return _fail(api, 40097)
        png = _qr_png(scene, width)
        return _ok(api, Response(png, mimetype="image/png"), scene=scene, page=page)

    _register_control(app)
    return app


def _qr_png(text: str, width: int) -> bytes:
    qr = qrcode.QRCode(border=4, box_size=10)
    qr.add_data(text)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    image = image.resize((width, width), resample=0)  # nearest: keep the modules crisp
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _register_control(app: Flask) -> None:
    @app.post("/_fake/reset")
    def fake_reset():
        """Forget all state."""
        _state().reset()
        return jsonify({"ok": True})

    @app.get("/_fake/access_token")
    def fake_current_token():
        """Show the current access_token."""
        return jsonify({"access_token": _state().current_token})

    @app.post("/_fake/access_token/invalidate")
    def fake_invalidate_token():
        """Invalidate the current access_token (it then answers 40001)."""
        return jsonify({"invalidated": _state().invalidate_current_token()})

    @app.post("/_fake/access_token/expire")
    def fake_expire_token():
        """Expire the current access_token (it then answers 42001)."""
        return jsonify({"expired": _state().expire_current_token()})

    @app.get("/_fake/calls")
    def fake_calls():
        """List the calls received so far."""
        state = _state()
        with state.lock:
            return jsonify({"calls": list(state.calls)})

    @app.get("/_fake/messages")
    def fake_messages():
        """List the subscribe messages sent so far."""
        state = _state()
        with state.lock:
            return jsonify({"messages": list(state.messages)})

    @app.post("/_fake/quota")
    def fake_quota():
        """Set subscribe-message quotas per openid; ``no_quota`` openids get zero."""
        body = _json_body() or {}
        state = _state()
        with state.lock:
            for openid, count in (body.get("quotas") or {}).items():
                state.quotas[str(openid)] = int(count)
            for openid in body.get("no_quota") or []:
                state.quotas[str(openid)] = 0
            return jsonify({"quotas": dict(state.quotas)})

    @app.post("/_fake/outage")
    def fake_outage():
        """Start (``{"http_status": 503}``) or end (``{"http_status": null}``) an outage."""
        body = _json_body() or {}
        status = body.get("http_status")
        state = _state()
        with state.lock:
            state.outage_status = int(status) if status is not None else None
            return jsonify({"http_status": state.outage_status})

    @app.post("/_fake/sec_words")
    def fake_sec_words():
        """Replace the risky and/or review word lists of msg_sec_check."""
        body = _json_body() or {}
        state = _state()
        with state.lock:
            if "risky" in body:
                state.risky_words = _word_map(body["risky"], 20006)
            if "review" in body:
                state.review_words = _word_map(body["review"], 21000)
            return jsonify({"risky": state.risky_words, "review": state.review_words})


def _word_map(value: Any, default_label: int) -> dict[str, int]:
    if isinstance(value, dict):
        return {str(k): int(v) for k, v in value.items()}
    return {str(w): default_label for w in value or []}


def fake_state(app: Flask) -> FakeState:
    """The in-memory state of a fake app, for tests running it in-process."""
    return app.extensions[_EXT_KEY]


class QuietRequestHandler(WSGIRequestHandler):
    """A request handler without the access log: its lines quote the appsecret and tokens."""

    def log_request(self, *args, **kwargs) -> None:
        """Skip the access log (``GET /_fake/calls`` lists the calls instead)."""


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on a loopback port (development only)."""
    parser = argparse.ArgumentParser(description="Fake WeChat server for development and tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8009)
    parser.add_argument("--appid", default=env_value("WECHAT_APPID", DEV_APPID))
    parser.add_argument("--secret", default=env_value("WECHAT_SECRET", DEV_SECRET))
    parser.add_argument("--access-log", action="store_true", help="Log every request line.")
    args = parser.parse_args(argv)
    app = create_fake_wechat_app(appid=args.appid, secret=args.secret)
    handler = WSGIRequestHandler if args.access_log else QuietRequestHandler
    print(f"fake WeChat server on http://{args.host}:{args.port} (appid {args.appid})", flush=True)
    run_simple(args.host, args.port, app, threaded=True, request_handler=handler)


if __name__ == "__main__":
    main()
