"""The fake WeChat server, in-process: reply shapes, error codes and test controls."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from backend.wechat.fake_server import (
    create_fake_wechat_app,
    fake_openid,
    fake_phone,
    fake_session_key,
    fake_state,
    fake_unionid,
)

APPID, SECRET = "wx-fake-appid", "wx-fake-secret"


@pytest.fixture
def fake():
    """A fresh fake app."""
    return create_fake_wechat_app(appid=APPID, secret=SECRET)


@pytest.fixture
def wx(fake):
    """A test client of the fake."""
    return fake.test_client()


def _login(wx, code, **overrides):
    params = {"appid": APPID, "secret": SECRET, "js_code": code}
    params["grant_type"] = "authorization_code"
    params.update(overrides)
    return wx.get("/sns/jscode2session", query_string=params)


def _token(wx, force=False):
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return wx.post("/cgi-bin/stable_token", json={**body, "force_refresh": force}).json


def test_dev_code_gives_deterministic_openid_once(wx):
    resp = _login(wx, "dev-alice")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"  # as WeChat answers it
    assert resp.get_json(force=True) == {
        "openid": fake_openid("alice"),
        "session_key": fake_session_key("dev-alice"),
        "unionid": fake_unionid("alice"),
    }
    assert len(fake_openid("alice")) == 28
    again = _login(wx, "dev-alice").get_json(force=True)
    assert again["errcode"] == 40163
    assert again["errmsg"].startswith("code been used")
    fresh = _login(wx, "dev-alice~2").get_json(force=True)
    assert fresh["openid"] == fake_openid("alice")


def test_dev0_code_success_carries_errcode_zero(wx):
    body = _login(wx, "dev0-bob").get_json(force=True)
    assert body["errcode"] == 0
    assert body["errmsg"] == "ok"
    assert body["openid"] == fake_openid("bob")


@pytest.mark.parametrize(
    ("code", "errcode"),
    [("err-40029", 40029), ("err-45011", 45011), ("err-40226", 40226), ("err--1", -1)],
)
def test_error_codes_on_demand(wx, code, errcode):
    body = _login(wx, code).get_json(force=True)
    assert body["errcode"] == errcode
    assert "rid:" in body["errmsg"]
    assert "openid" not in body


def test_unknown_code_is_40029_and_html_is_a_502_page(wx):
    assert _login(wx, "whatever").get_json(force=True)["errcode"] == 40029
    resp = _login(wx, "err-html")
    assert resp.status_code == 502
    assert resp.mimetype == "text/html"


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({"appid": "wx-other"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"appid": ""}, 41002),
        ({"js_code": ""}, 41008),
        ({"grant_type": "client_credential"}, 40002),
    ],
)
def test_jscode2session_checks_credentials(wx, overrides, errcode):
    assert _login(wx, "dev-x", **overrides).get_json(force=True)["errcode"] == errcode


def test_stable_token_normal_mode_reuses_and_force_refresh_replaces(wx):
    first = _token(wx)
    assert first["expires_in"] > 7190
    assert _token(wx)["access_token"] == first["access_token"]
    refreshed = _token(wx, force=True)
    assert refreshed["access_token"] != first["access_token"]
    old = wx.post(
        "/wxa/msg_sec_check",
        query_string={"access_token": first["access_token"]},
        json={"content": "你好", "version": 2, "scene": 2, "openid": fake_openid("a")},
    ).json
    assert old["errcode"] == 40001


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"grant_type": "client_credential", "appid": "nope", "secret": SECRET}, 40013),
        ({"grant_type": "client_credential", "appid": APPID, "secret": "nope"}, 40125),
        ({"grant_type": "password", "appid": APPID, "secret": SECRET}, 40002),
    ],
)
def test_stable_token_errors(wx, body, errcode):
    assert wx.post("/cgi-bin/stable_token", json=body).json["errcode"] == errcode


def test_stable_token_requires_post(wx):
    assert wx.get("/cgi-bin/stable_token").json["errcode"] == 43002


def test_access_token_missing_invalid_and_expired(wx, fake):
    payload = {"content": "x", "version": 2, "scene": 2, "openid": fake_openid("a")}
    assert wx.post("/wxa/msg_sec_check", json=payload).json["errcode"] == 41001
    bad = wx.post("/wxa/msg_sec_check", query_string={"access_token": "nope"}, json=payload)
    assert bad.json["errcode"] == 40001
    token = _token(wx)["access_token"]
    wx.post("/_fake/access_token/expire")
    expired = wx.post("/wxa/msg_sec_check", query_string={"access_token": token}, json=payload)
    assert expired.json["errcode"] == 42001
    assert wx.get("/_fake/access_token").json["access_token"] == token
    assert _token(wx)["access_token"] != token  # an expired token is replaced
    assert fake_state(fake).token_errcode(token) == 40001


def test_phone_number(wx):
    token = _token(wx)["access_token"]
    url = "/wxa/business/getuserphonenumber"
    body = wx.post(url, query_string={"access_token": token}, json={"code": "phone-13912345678"})
    info = body.json["phone_info"]
    assert body.json["errcode"] == 0
    assert info["phoneNumber"] == info["purePhoneNumber"] == "13912345678"
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == APPID
    dev = wx.post(url, query_string={"access_token": token}, json={"code": "dev-carol"}).json
    assert dev["phone_info"]["phoneNumber"] == fake_phone("carol")
    reused = wx.post(url, query_string={"access_token": token}, json={"code": "dev-carol"}).json
    assert reused["errcode"] == 40029


def _sec(wx, token, **body):
    payload = {"content": "你好", "version": 2, "scene": 2, "openid": fake_openid("a"), **body}
    return wx.post("/wxa/msg_sec_check", query_string={"access_token": token}, json=payload).json


def test_msg_sec_check_verdicts_and_word_lists(wx):
    token = _token(wx)["access_token"]
    ok = _sec(wx, token)
    assert ok["errcode"] == 0
    assert ok["result"] == {"suggest": "pass", "label": 100}
    assert ok["trace_id"]
    assert ok["detail"][0]["strategy"] == "content_model"
    risky = _sec(wx, token, content="来赌博吧")
    assert risky["result"] == {"suggest": "risky", "label": 20006}
    assert risky["detail"][1]["keyword"] == "赌博"
    assert _sec(wx, token, content="可代开发票")["result"]["suggest"] == "review"
    wx.post("/_fake/sec_words", json={"risky": {"坏话": 20003}, "review": ["可疑"]})
    assert _sec(wx, token, content="说坏话")["result"] == {"suggest": "risky", "label": 20003}
    assert _sec(wx, token, title="可疑")["result"] == {"suggest": "review", "label": 21000}
    assert _sec(wx, token, content="来赌博吧")["result"]["suggest"] == "pass"


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"openid": "not-an-openid"}, 40003),
        ({"version": 1}, 47001),
        ({"content": None}, 47001),
        ({"scene": 9}, 40129),
    ],
)
def test_msg_sec_check_errors(wx, body, errcode):
    token = _token(wx)["access_token"]
    assert _sec(wx, token, **body)["errcode"] == errcode


def _send(wx, token, **body):
    payload = {
        "touser": fake_openid("a"),
        "template_id": "TplAbc12345",
        "data": {"thing1": {"value": "问题已受理"}},
        **body,
    }
    url = "/cgi-bin/message/subscribe/send"
    return wx.post(url, query_string={"access_token": token}, json=payload).json


def test_subscribe_send_records_and_spends_quota(wx):
    token = _token(wx)["access_token"]
    first = _send(wx, token, page="pages/report/report")
    assert first == {"errcode": 0, "errmsg": "ok", "msgid": 1}
    messages = wx.get("/_fake/messages").json["messages"]
    assert messages[0]["data"] == {"thing1": {"value": "问题已受理"}}
    assert messages[0]["page"] == "pages/report/report"
    wx.post("/_fake/quota", json={"quotas": {fake_openid("a"): 1}, "no_quota": [fake_openid("b")]})
    assert _send(wx, token)["errcode"] == 0
    assert _send(wx, token)["errcode"] == 43101
    assert _send(wx, token, touser=fake_openid("b"))["errcode"] == 43101
    assert _send(wx, token, touser=fake_openid("c"))["errcode"] == 0


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"touser": ""}, 40003),
        ({"template_id": "bad id!"}, 40037),
        ({"data": {"thing1": "plain"}}, 47003),
    ],
)
def test_subscribe_send_errors(wx, body, errcode):
    token = _token(wx)["access_token"]
    assert _send(wx, token, **body)["errcode"] == errcode


def test_wxacode_is_a_png_whose_qr_is_the_scene(wx):
    token = _token(wx)["access_token"]
    resp = wx.post(
        "/wxa/getwxacodeunlimit",
        query_string={"access_token": token},
        json={"scene": "c=AbC123xyz", "page": "pages/scan/scan", "width": 300},
    )
    assert resp.status_code == 200
    assert resp.mimetype == "image/png"
    image = Image.open(io.BytesIO(resp.data))
    assert image.size == (300, 300)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == ["c=AbC123xyz"]


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": "x" * 33}, 40169),
        ({"scene": ""}, 40169),
        ({"scene": "中文"}, 40129),
        ({"scene": "a", "page": "/pages/scan/scan"}, 41030),
        ({"scene": "a", "page": "pages/scan/scan?x=1"}, 41030),
        ({"scene": "a", "width": 100}, 40097),
        ({"scene": "a", "env_version": "beta"}, 40097),
    ],
)
def test_wxacode_errors_are_json(wx, body, errcode):
    token = _token(wx)["access_token"]
    resp = wx.post("/wxa/getwxacodeunlimit", query_string={"access_token": token}, json=body)
    assert resp.mimetype == "application/json"
    assert resp.json["errcode"] == errcode


def test_calls_are_listed_without_secrets_and_reset_forgets(wx):
    _login(wx, "dev-alice")
    _token(wx)
    calls = wx.get("/_fake/calls").json["calls"]
    assert [c["api"] for c in calls] == ["jscode2session", "stable_token"]
    assert calls[0]["params"]["js_code"] == "dev-alice"
    assert "secret" not in calls[0]["params"]
    assert SECRET not in str(calls)
    wx.post("/_fake/reset")
    assert wx.get("/_fake/calls").json["calls"] == []
    assert _login(wx, "dev-alice").get_json(force=True)["openid"] == fake_openid("alice")
