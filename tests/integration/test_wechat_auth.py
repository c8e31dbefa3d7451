"""WeChat login, binding codes and binding, through HTTP against the fake WeChat server."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, AuthToken, BindingCode, Role, utcnow
from backend.services.auth import sha256_hex
from backend.services.wechat_auth import (
    BINDING_CODE_ALPHABET,
    make_bind_ticket,
    read_bind_ticket,
)
from backend.wechat.fake_server import fake_openid, fake_session_key
from tests.factories import RegionFactory, UserFactory, user_with_role

LOGIN = "/api/v1/auth/wechat"
BIND = "/api/v1/auth/wechat/bind"


@pytest.fixture
def wx_client(wechat_app):
    """A test client of the app pointed at the fake WeChat server."""
    return wechat_app.test_client()


def _codes_url(user) -> str:
    return f"/api/v1/users/{user.id}/binding-codes"


def _issue_code(client, headers, user) -> str:
    resp = client.post(_codes_url(user), headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json["code"]


def _ticket(client, js_code: str) -> str:
    resp = client.post(LOGIN, json={"code": js_code})
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "binding_required"
    return resp.json["bind_ticket"]


def _audit(action: str) -> list[AuditLog]:
    return db.session.scalars(
        select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    ).all()


def _assert_error(resp, status: int, code: str, message: str) -> None:
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["message"] == message


# Login.


def test_bound_openid_logs_in_and_the_token_works(wx_client, town):
    town.helper.wechat_openid = fake_openid("helper")
    db.session.flush()
    resp = wx_client.post(LOGIN, json={"code": "dev-helper"})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["status"] == "ok"
    assert body["token"].startswith("hhq_")
    assert body["token_type"] == "Bearer"
    assert body["expires_at"]
    assert body["user"]["display_name"] == "帮扶甲"
    assert body["user"]["wechat_bound"] is True
    assert "bind_ticket" not in body
    me = wx_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["id"] == town.helper.id
    token_row = db.session.scalar(
        select(AuthToken).where(AuthToken.token_hash == sha256_hex(body["token"]))
    )
    assert token_row.method == "wechat"
    [login] = _audit("auth.login")
    assert login.detail == {"method": "wechat"}
    assert login.actor_user_id == town.helper.id


def test_success_reply_with_errcode_zero_logs_in(wx_client, town):
    town.helper.wechat_openid = fake_openid("helper")
    db.session.flush()
    resp = wx_client.post(LOGIN, json={"code": "dev0-helper"})
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"


def test_unbound_openid_gets_a_bind_ticket(wx_client, wechat_app):
    resp = wx_client.post(LOGIN, json={"code": "dev-stranger"})
    assert resp.status_code == 200
    assert set(resp.json) == {"status", "bind_ticket"}
    assert resp.json["status"] == "binding_required"
    ticket = resp.json["bind_ticket"]
    assert read_bind_ticket(ticket=ticket) == fake_openid("stranger")
    # The ticket is signed, not encrypted: it must carry the openid only.
    payload = ticket.split(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded == {"openid": fake_openid("stranger")}


def test_disabled_bound_user_is_refused(wx_client, town):
    town.helper.wechat_openid = fake_openid("helper")
    town.helper.is_active = False
    db.session.flush()
    resp = wx_client.post(LOGIN, json={"code": "dev-helper"})
    _assert_error(resp, 403, "auth.user_disabled", "该账号已停用，请联系镇扶贫办。")
    [failed] = _audit("auth.login_failed")
    assert failed.detail == {"method": "wechat", "reason": "disabled"}


def test_login_needs_a_code(wx_client):
    resp = wx_client.post(LOGIN, json={})
    _assert_error(resp, 422, "request.validation", "提交的数据有误，请检查后重试。")
    assert resp.json["error"]["fields"]["json"]["code"] == ["必填项不能为空。"]


@pytest.mark.parametrize(
    ("js_code", "status", "code", "message"),
    [
        ("err-40029", 400, "wechat.code_invalid", "微信登录凭证无效，请重新进入小程序。"),
        ("err-45011", 429, "wechat.rate_limited", "微信登录过于频繁，请稍后再试。"),
        ("err-40226", 403, "wechat.user_blocked", "微信判定该账号存在风险，暂不能登录。"),
        ("err--1", 503, "wechat.busy", "微信系统繁忙，请稍后再试。"),
        ("err-40163", 400, "wechat.code_invalid", "微信登录凭证无效，请重新进入小程序。"),
        ("err-40013", 502, "wechat.error", "微信服务返回错误。"),
        ("err-99999", 502, "wechat.error", "微信服务返回错误。"),
    ],
)
def test_jscode2session_errors_are_distinct(wx_client, js_code, status, code, message):
    resp = wx_client.post(LOGIN, json={"code": js_code})
    _assert_error(resp, status, code, message)
    assert resp.json["error"]["details"] == {"errcode": int(js_code[4:])}


def test_reused_wx_login_code_is_invalid(wx_client):
    _ticket(wx_client, "dev-once")
    resp = wx_client.post(LOGIN, json={"code": "dev-once"})
    _assert_error(resp, 400, "wechat.code_invalid", "微信登录凭证无效，请重新进入小程序。")
    assert resp.json["error"]["details"] == {"errcode": 40163}


def test_unreadable_wechat_reply_is_unavailable(wx_client):
    resp = wx_client.post(LOGIN, json={"code": "err-html"})
    _assert_error(resp, 502, "wechat.unavailable", "暂时无法连接微信服务，请稍后再试。")
    assert "details" not in resp.json["error"]


def test_unreachable_wechat_is_unavailable(client):
    # The session app points WECHAT_API_BASE at a closed port.
    resp = client.post(LOGIN, json={"code": "dev-anyone"})
    _assert_error(resp, 502, "wechat.unavailable", "暂时无法连接微信服务，请稍后再试。")


def test_session_key_never_appears_in_a_response(wx_client, town, login):
    codes = ["dev-nobody", "dev-helper~1", "dev-helper~2", "err-40029"]
    bodies = [wx_client.post(LOGIN, json={"code": codes[0]}).data]
    ticket = _ticket(wx_client, codes[1])
    binding_code = _issue_code(wx_client, login(town.town_admin), town.helper)
    bodies.append(
        wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": binding_code}).data
    )
    bodies.append(wx_client.post(LOGIN, json={"code": codes[2]}).data)
    bodies.append(wx_client.post(LOGIN, json={"code": codes[3]}).data)
    assert json.loads(bodies[-2])["status"] == "ok"
    for body in bodies:
        assert b"session_key" not in body
        for code in codes:
            assert fake_session_key(code).encode() not in body
    audit_text = str(
        [(a.action, a.subject, a.detail) for a in db.session.scalars(select(AuditLog))]
    )
    assert all(fake_session_key(code) not in audit_text for code in codes)


# Binding codes.


def test_town_admin_issues_a_binding_code(wx_client, town, login):
    resp = wx_client.post(_codes_url(town.helper), headers=login(town.town_admin))
    assert resp.status_code == 201
    body = resp.json
    assert len(body["code"]) == 8
    assert set(body["code"]) <= set(BINDING_CODE_ALPHABET)
    assert body["user_id"] == town.helper.id
    assert body["display_name"] == "帮扶甲"
    [row] = db.session.scalars(select(BindingCode)).all()
    assert row.code_hash == sha256_hex(body["code"])
    assert row.created_by_id == town.town_admin.id
    lifetime = (row.expires_at - row.created_at).total_seconds()
    assert lifetime == wx_client.application.config["BINDING_CODE_TTL_SECONDS"]
    [issued] = _audit("auth.binding_code_issued")
    assert issued.actor_user_id == town.town_admin.id
    assert issued.target_id == str(town.helper.id)
    assert body["code"] not in str(issued.detail)


def test_district_issues_codes_anywhere_below_it(wx_client, town, login):
    other_town = RegionFactory(code="500151106", level="town", parent=town.district)
    far_helper = user_with_role(Role.HELPER, other_town)
    assert (
        wx_client.post(_codes_url(far_helper), headers=login(town.district_user)).status_code == 201
    )


@pytest.mark.parametrize("role", ["helper", "village_cadre", "office", "inspector"])
def test_other_roles_may_not_issue_codes(wx_client, town, login, role):
    actor = town.users_by_role()[role]
    resp = wx_client.post(_codes_url(town.other_helper), headers=login(actor))
    _assert_error(resp, 403, "auth.forbidden", "您无权执行此操作。")
    assert db.session.scalars(select(BindingCode)).all() == []


def test_anonymous_may_not_issue_codes(wx_client, town):
    resp = wx_client.post(_codes_url(town.helper))
    _assert_error(resp, 401, "auth.required", "请先登录。")


def test_user_outside_the_admins_town_is_forbidden(wx_client, town, login):
    other_town = RegionFactory(code="500151107", level="town", parent=town.district)
    far_helper = user_with_role(Role.HELPER, other_town)
    resp = wx_client.post(_codes_url(far_helper), headers=login(town.town_admin))
    _assert_error(resp, 403, "auth.forbidden", "您无权执行此操作。")
    no_grants = UserFactory()
    resp = wx_client.post(_codes_url(no_grants), headers=login(town.town_admin))
    _assert_error(resp, 403, "auth.forbidden", "您无权执行此操作。")


def test_unknown_user_is_404(wx_client, town, login):
    resp = wx_client.post("/api/v1/users/999999/binding-codes", headers=login(town.town_admin))
    _assert_error(resp, 404, "user.not_found", "用户不存在。")


def test_disabled_user_gets_no_code(wx_client, town, login):
    town.helper.is_active = False
    db.session.flush()
    resp = wx_client.post(_codes_url(town.helper), headers=login(town.town_admin))
    _assert_error(resp, 403, "auth.user_disabled", "该账号已停用，不能发放绑定码。")


# Binding.


def test_bind_with_a_code_then_log_in_directly(wx_client, town, login):
    ticket = _ticket(wx_client, "dev-helper")
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": code})
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "ok"
    assert resp.json["user"]["id"] == town.helper.id
    headers = {"Authorization": f"Bearer {resp.json['token']}"}
    assert wx_client.get("/api/v1/auth/me", headers=headers).json["wechat_bound"] is True
    db.session.refresh(town.helper)
    assert town.helper.wechat_openid == fake_openid("helper")
    [bound] = _audit("auth.wechat_bound")
    assert bound.detail["rebound"] is False
    assert bound.actor_user_id == town.helper.id
    again = wx_client.post(LOGIN, json={"code": "dev-helper~2"})
    assert again.json["status"] == "ok"
    assert again.json["user"]["id"] == town.helper.id


def test_code_is_normalised_when_typed(wx_client, town, login):
    ticket = _ticket(wx_client, "dev-helper")
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    typed = f" {code[:4].lower()}-{code[4:]} "
    resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": typed})
    assert resp.status_code == 200, resp.json


def test_code_is_single_use(wx_client, town, login):
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    first = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-a"), "binding_code": code}
    )
    assert first.status_code == 200
    resp = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-b"), "binding_code": code}
    )
    _assert_error(
        resp,
        400,
        "auth.binding_code_invalid",
        "绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。",
    )
    [failed] = _audit("auth.wechat_bind_failed")
    assert failed.detail["reason"] == "used_code"
    assert failed.subject == fake_openid("b")
    db.session.refresh(town.helper)
    assert town.helper.wechat_openid == fake_openid("a")


def test_expired_code_is_refused(wx_client, town, login):
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    row = db.session.scalar(select(BindingCode))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    resp = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-a"), "binding_code": code}
    )
    _assert_error(
        resp,
        400,
        "auth.binding_code_invalid",
        "绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。",
    )
    assert _audit("auth.wechat_bind_failed")[0].detail["reason"] == "expired_code"


def test_unknown_code_is_refused(wx_client):
    resp = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-a"), "binding_code": "ZZZZZZZZ"}
    )
    _assert_error(
        resp,
        400,
        "auth.binding_code_invalid",
        "绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。",
    )
    assert _audit("auth.wechat_bind_failed")[0].detail == {"reason": "unknown_code"}


def test_new_code_invalidates_the_older_one(wx_client, town, login):
    headers = login(town.town_admin)
    old = _issue_code(wx_client, headers, town.helper)
    new = _issue_code(wx_client, headers, town.helper)
    assert _audit("auth.binding_code_issued")[-1].detail["invalidated"] == 1
    resp = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-a"), "binding_code": old}
    )
    _assert_error(
        resp,
        400,
        "auth.binding_code_invalid",
        "绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。",
    )
    ok = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-b"), "binding_code": new}
    )
    assert ok.status_code == 200


def test_forged_ticket_is_refused(wx_client, wechat_app, town, login):
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    forged = URLSafeTimedSerializer("not-our-secret", salt="hhq.wechat.bind-ticket.v1").dumps(
        {"openid": fake_openid("mallory")}
    )
    for ticket in (forged, "garbage", _ticket(wx_client, "dev-a") + "x"):
        resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": code})
        _assert_error(resp, 400, "auth.bind_ticket_invalid", "微信绑定已超时，请重新登录。")
    assert [a.detail for a in _audit("auth.wechat_bind_failed")] == [{"reason": "ticket"}] * 3
    # The code is still usable: a bad ticket does not spend it.
    assert db.session.scalar(select(BindingCode)).used_at is None


def test_expired_ticket_is_refused(wx_client, wechat_app, town, login):
    ticket = _ticket(wx_client, "dev-a")
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    saved = wechat_app.config["BIND_TICKET_TTL_SECONDS"]
    wechat_app.config["BIND_TICKET_TTL_SECONDS"] = -1
    try:
        resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": code})
    finally:
        wechat_app.config["BIND_TICKET_TTL_SECONDS"] = saved
    _assert_error(resp, 400, "auth.bind_ticket_invalid", "微信绑定已超时，请重新登录。")


def test_openid_bound_to_another_user_is_refused(wx_client, wechat_app, town, login):
    town.other_helper.wechat_openid = fake_openid("shared")
    db.session.flush()
    # A ticket minted before the openid was bound elsewhere.
    ticket = make_bind_ticket(openid=fake_openid("shared"))
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": code})
    _assert_error(resp, 409, "auth.already_bound", "该微信已绑定其他账号。")
    assert _audit("auth.wechat_bind_failed")[0].detail["reason"] == "already_bound"
    assert db.session.scalar(select(BindingCode)).used_at is None


def test_lost_phone_rebinds_with_a_new_code_and_revokes_old_wechat_tokens(wx_client, town, login):
    town.helper.wechat_openid = fake_openid("old-phone")
    db.session.flush()
    old_login = wx_client.post(LOGIN, json={"code": "dev-old-phone"}).json
    old_headers = {"Authorization": f"Bearer {old_login['token']}"}
    password_headers = login(town.helper)

    ticket = _ticket(wx_client, "dev-new-phone")
    code = _issue_code(wx_client, login(town.town_admin), town.helper)
    resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": code})
    assert resp.status_code == 200, resp.json
    db.session.refresh(town.helper)
    assert town.helper.wechat_openid == fake_openid("new-phone")
    [bound] = _audit("auth.wechat_bound")
    assert bound.detail["rebound"] is True
    assert bound.detail["previous_openid"] == fake_openid("old-phone")
    assert bound.detail["revoked_tokens"] == 1
    old = wx_client.get("/api/v1/auth/me", headers=old_headers)
    _assert_error(old, 401, "auth.token_revoked", "登录凭证已注销，请重新登录。")
    assert wx_client.get("/api/v1/auth/me", headers=password_headers).status_code == 200
    # The old WeChat is no longer anyone's.
    assert wx_client.post(LOGIN, json={"code": "dev-old-phone~2"}).json["status"] == (
        "binding_required"
    )


def test_repeated_failed_binds_are_throttled(wx_client, wechat_app):
    ticket = _ticket(wx_client, "dev-guesser")
    for _ in range(wechat_app.config["LOGIN_MAX_FAILURES"]):
        resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": "AAAAAAAA"})
        assert resp.json["error"]["code"] == "auth.binding_code_invalid"
    resp = wx_client.post(BIND, json={"bind_ticket": ticket, "binding_code": "AAAAAAAA"})
    _assert_error(resp, 429, "auth.throttled", "登录失败次数过多，请稍后再试。")


def test_bind_validation_is_422(wx_client):
    resp = wx_client.post(BIND, json={"bind_ticket": "x"})
    _assert_error(resp, 422, "request.validation", "提交的数据有误，请检查后重试。")
    assert resp.json["error"]["fields"]["json"]["binding_code"] == ["必填项不能为空。"]


# Command line.


def test_cli_issues_a_code_that_binds(wechat_app, wx_client, town):
    runner = wechat_app.test_cli_runner()
    result = runner.invoke(args=["hhq", "issue-binding-code", town.helper.username])
    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    assert len(code) == 8
    [issued] = _audit("auth.binding_code_issued")
    assert issued.actor_user_id is None
    assert issued.detail["via"] == "cli"
    resp = wx_client.post(
        BIND, json={"bind_ticket": _ticket(wx_client, "dev-a"), "binding_code": code}
    )
    assert resp.status_code == 200, resp.json


def test_cli_unknown_user(wechat_app):
    result = wechat_app.test_cli_runner().invoke(args=["hhq", "issue-binding-code", "nobody"])
    assert result.exit_code == 1
    assert "用户不存在。" in result.output
