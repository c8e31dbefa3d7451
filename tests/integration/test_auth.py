"""Staff login, tokens and their failure modes, through HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, AuthToken, utcnow
from tests.factories import PASSWORD


def test_login_and_me(client, town):
    resp = client.post(
        "/api/v1/auth/login", json={"username": town.town_admin.username, "password": PASSWORD}
    )
    assert resp.status_code == 200, resp.json
    token = resp.json["token"]
    assert token.startswith("hhq_")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["display_name"] == "扶贫办"
    assert me.json["grants"][0]["role"] == "town_admin"
    assert me.json["grants"][0]["region_name"] == "土桥镇"
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert "auth.login" in actions


def test_wrong_password_is_401_and_audited(client, town):
    resp = client.post(
        "/api/v1/auth/login", json={"username": town.town_admin.username, "password": "nope"}
    )
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.bad_credentials"
    assert resp.json["error"]["message"] == "用户名或密码错误。"
    failed = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "auth.login_failed")
    ).all()
    assert [f.subject for f in failed] == [town.town_admin.username]


def test_repeated_failures_are_throttled(client, town):
    for _ in range(5):
        r = client.post(
            "/api/v1/auth/login", json={"username": town.helper.username, "password": "x"}
        )
        assert r.status_code == 401
    resp = client.post(
        "/api/v1/auth/login", json={"username": town.helper.username, "password": PASSWORD}
    )
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "auth.throttled"


def test_login_validation_is_422_in_chinese(client):
    resp = client.post("/api/v1/auth/login", json={"username": "a"})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"]["json"]["password"] == ["必填项不能为空。"]


def test_forged_token_is_401(client):
    resp = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer hhq_forged"})
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.invalid_token"


def test_non_bearer_header_is_401(client):
    resp = client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.invalid_token"


def test_missing_token_is_401(client):
    resp = client.get("/api/v1/auth/me")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


def test_expired_token_is_401(client, town, login):
    headers = login(town.helper)
    row = db.session.scalars(select(AuthToken)).all()[-1]
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_expired"


def test_logout_revokes_the_token(client, town, login):
    headers = login(town.helper)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_revoked"


def test_disabled_user_token_stops_working(client, town, login):
    headers = login(town.helper)
    town.helper.is_active = False
    db.session.flush()
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_revoked"


def test_refused_logins_on_an_account_belong_to_its_region(client, town):
    """Its town reads them: a wrong password, a disabled account, a throttled one."""
    helper_region = town.helper.grants[0].region.path
    town.town_admin.is_active = False
    admin_region = town.town.path
    db.session.commit()
    disabled = {"username": town.town_admin.username, "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=disabled).status_code == 403
    for _ in range(6):
        client.post("/api/v1/auth/login", json={"username": town.helper.username, "password": "x"})
    rows = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(r.action, r.subject, r.detail, r.region_path) for r in rows] == [
        ("auth.login_failed", town.town_admin.username, {"reason": "disabled"}, admin_region),
        *[("auth.login_failed", town.helper.username, None, helper_region)] * 5,
        ("auth.login_throttled", town.helper.username, None, helper_region),
    ]
