"""The WeChat client against the fake WeChat server running on a loopback port."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import timedelta

import pytest
import redis
import zxingcpp
from PIL import Image
from sqlalchemy import select

from backend.extensions import db
from backend.models import WechatAccessToken, utcnow
from backend.wechat import WeChatClient, WeChatError, WeChatUnavailable, get_wechat_client
from backend.wechat.client import DatabaseTokenCache, RedisTokenCache
from backend.wechat.fake_server import fake_openid, fake_phone, fake_session_key, fake_unionid

REDIS_URL = "redis://127.0.0.1:6379/0"


def _client(app, url, cache=None, **kw) -> WeChatClient:
    return WeChatClient(
        api_base=url,
        appid=app.config["WECHAT_APPID"],
        secret=app.config["WECHAT_SECRET"],
        token_cache=cache if cache is not None else DatabaseTokenCache(),
        timeout=2.0,
        **kw,
    )


@pytest.fixture
def wx(app, fake_wechat):
    """A client talking to the fake, caching its token in the database."""
    return _client(app, fake_wechat.url)


@pytest.fixture
def redis_cache():
    """A Redis token cache under a key prefix of its own; skipped when Redis does not answer."""
    conn = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        conn.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    cache = RedisTokenCache(conn, prefix=f"hhq-test:{uuid.uuid4().hex}:")
    yield cache
    for key in conn.scan_iter(match=cache.prefix + "*"):
        conn.delete(key)


# Login.


def test_code2session_success(wx):
    session = wx.code2session("dev-alice")
    assert session.openid == fake_openid("alice")
    assert session.unionid == fake_unionid("alice")
    assert session.session_key == fake_session_key("dev-alice")
    assert fake_session_key("dev-alice") not in repr(session)


def test_code2session_success_with_errcode_zero(wx):
    assert wx.code2session("dev0-bob").openid == fake_openid("bob")


@pytest.mark.parametrize("errcode", [40029, 45011, 40226, -1, 99999])
def test_code2session_errors_carry_errcode(wx, errcode):
    with pytest.raises(WeChatError) as info:
        wx.code2session(f"err-{errcode}")
    assert info.value.errcode == errcode
    assert info.value.api == "jscode2session"
    assert not isinstance(info.value, WeChatUnavailable)


def test_code2session_code_works_once(wx):
    wx.code2session("dev-carol")
    with pytest.raises(WeChatError) as info:
        wx.code2session("dev-carol")
    assert info.value.errcode == 40163


def test_wrong_secret_is_40125(app, fake_wechat):
    client = WeChatClient(
        api_base=fake_wechat.url,
        appid=app.config["WECHAT_APPID"],
        secret="wrong",
        token_cache=DatabaseTokenCache(),
    )
    with pytest.raises(WeChatError) as info:
        client.code2session("dev-x")
    assert info.value.errcode == 40125


def test_unreadable_reply_is_unavailable(wx):
    with pytest.raises(WeChatUnavailable) as info:
        wx.code2session("err-html")
    assert info.value.errcode is None
    assert "HTTP 502" in info.value.errmsg


def test_network_failure_is_unavailable_and_never_quotes_the_secret(app, caplog):
    client = _client(app, "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WeChatUnavailable) as info:
        client.code2session("dev-x")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    secret = app.config["WECHAT_SECRET"]
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert "dev-x" not in caplog.text


def test_secrets_are_never_logged_even_at_debug(app, wx, caplog):
    caplog.set_level(logging.DEBUG)
    wx.code2session("dev-dave")
    token = wx.get_access_token()
    wx.msg_sec_check("你好", fake_openid("a"), 2)
    assert "jscode2session" in caplog.text  # urllib3's request line, redacted
    assert fake_session_key("dev-dave") not in caplog.text
    assert app.config["WECHAT_SECRET"] not in caplog.text
    assert "dev-dave" not in caplog.text
    assert token not in caplog.text


# access_token and its caches.


def test_access_token_is_fetched_once_and_cached_in_the_database(wx, fake_wechat):
    token = wx.get_access_token()
    assert wx.get_access_token() == token
    assert len(fake_wechat.calls("stable_token")) == 1
    row = db.session.get(WechatAccessToken, wx.appid)
    assert row.access_token == token
    # expires_in 7200 minus the 300 s safety margin.
    remaining = (row.expires_at - utcnow()).total_seconds()
    assert 6890 < remaining <= 6900


def test_database_cache_is_shared_by_workers(app, fake_wechat):
    worker_a = _client(app, fake_wechat.url)
    worker_b = _client(app, fake_wechat.url)
    token = worker_a.get_access_token()
    assert worker_b.get_access_token() == token
    assert len(fake_wechat.calls("stable_token")) == 1


def test_expired_database_row_is_refetched(wx, fake_wechat):
    token = wx.get_access_token()
    row = db.session.get(WechatAccessToken, wx.appid)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert wx.get_access_token() == token  # stable_token's normal mode: same token
    assert len(fake_wechat.calls("stable_token")) == 2


def test_redis_cache_is_shared_by_workers_with_a_ttl(app, fake_wechat, redis_cache):
    worker_a = _client(app, fake_wechat.url, cache=redis_cache)
    worker_b = _client(app, fake_wechat.url, cache=RedisTokenCache(redis_cache.redis))
    worker_b.token_cache.prefix = redis_cache.prefix
    token = worker_a.get_access_token()
    assert worker_b.get_access_token() == token
    assert len(fake_wechat.calls("stable_token")) == 1
    key = redis_cache.key(worker_a.appid)
    assert key.endswith(":" + worker_a.appid)
    assert 6890 < redis_cache.redis.ttl(key) <= 6900
    assert db.session.scalar(select(WechatAccessToken)) is None


def test_redis_invalidate_only_drops_the_same_token(redis_cache):
    redis_cache.set("wx-a", "token-1", 60)
    redis_cache.invalidate("wx-a", "token-0")
    assert redis_cache.get("wx-a") == "token-1"
    redis_cache.invalidate("wx-a", "token-1")
    assert redis_cache.get("wx-a") is None


def test_redis_down_falls_back_to_fetching(app, fake_wechat):
    dead = RedisTokenCache.from_url("redis://127.0.0.1:9/0", timeout=0.5)
    client = _client(app, fake_wechat.url, cache=dead)
    assert client.get_access_token() == client.get_access_token()
    assert len(fake_wechat.calls("stable_token")) == 2


def test_force_refresh_replaces_the_cached_token(wx, fake_wechat):
    old = wx.get_access_token()
    new = wx.get_access_token(force_refresh=True)
    assert new != old
    assert wx.get_access_token() == new
    assert [c["force_refresh"] for c in fake_wechat.calls("stable_token")] == [False, True]


def test_bad_secret_for_stable_token_is_an_error(app, fake_wechat):
    client = WeChatClient(
        api_base=fake_wechat.url, appid="wx-other", secret="x", token_cache=DatabaseTokenCache()
    )
    with pytest.raises(WeChatError) as info:
        client.get_access_token()
    assert info.value.errcode == 40013


@pytest.mark.parametrize(("control", "errcode"), [("invalidate", 40001), ("expire", 42001)])
def test_rejected_token_is_refetched_with_force_refresh_and_retried_once(
    wx, fake_wechat, control, errcode
):
    stale = wx.get_access_token()
    fake_wechat.control(f"access_token/{control}")
    result = wx.msg_sec_check("你好", fake_openid("a"), 2)
    assert result.passed
    calls = [(c["api"], c["errcode"], c.get("force_refresh")) for c in fake_wechat.calls()]
    assert calls == [
        ("stable_token", 0, False),
        ("msg_sec_check", errcode, None),
        ("stable_token", 0, True),
        ("msg_sec_check", 0, None),
    ]
    assert wx.get_access_token() != stale


def test_retry_happens_exactly_once(wx, fake_wechat, monkeypatch):
    monkeypatch.setattr(wx, "get_access_token", lambda force_refresh=False: "always-stale")
    with pytest.raises(WeChatError) as info:
        wx.msg_sec_check("你好", fake_openid("a"), 2)
    assert info.value.errcode == 40001
    assert len(fake_wechat.calls("msg_sec_check")) == 2


def test_token_refreshed_by_another_worker_is_reused(app, fake_wechat):
    worker_a = _client(app, fake_wechat.url)
    worker_b = _client(app, fake_wechat.url)
    stale = worker_a.get_access_token()
    fresh = worker_b.get_access_token(force_refresh=True)  # invalidates `stale` at WeChat
    # Worker A still holds the stale token when its call is rejected.
    assert worker_a._replace_rejected_token(stale) == fresh
    assert len(fake_wechat.calls("stable_token")) == 2


# Calls that use the access_token.


def test_user_phone_number(wx):
    info = wx.get_user_phone_number("dev-erin")
    assert info.phone_number == info.pure_phone_number == fake_phone("erin")
    assert info.country_code == "86"
    assert info.watermark["appid"] == wx.appid
    with pytest.raises(WeChatError) as err:
        wx.get_user_phone_number("nonsense")
    assert err.value.errcode == 40029


def test_msg_sec_check_v2(wx, fake_wechat):
    risky = wx.msg_sec_check("来赌博吧", fake_openid("a"), 2)
    assert (risky.suggest, risky.label, risky.passed) == ("risky", 20006, False)
    assert risky.trace_id
    review = wx.msg_sec_check("好的", fake_openid("a"), 1, nickname="代开发票")
    assert review.suggest == "review"
    with pytest.raises(WeChatError) as err:
        wx.msg_sec_check("你好", "bad-openid", 2)
    assert err.value.errcode == 40003


def test_send_subscribe_message(wx, fake_wechat):
    msgid = wx.send_subscribe_message(
        fake_openid("a"),
        "TplAbc12345",
        {"thing1": "问题已受理", "time2": {"value": "2026-03-01 10:00"}},
        page="pages/report/report",
    )
    assert msgid == 1
    [message] = fake_wechat.control("messages")["messages"]
    assert message["data"] == {
        "thing1": {"value": "问题已受理"},
        "time2": {"value": "2026-03-01 10:00"},
    }
    assert message["lang"] == "zh_CN"
    fake_wechat.control("quota", {"no_quota": [fake_openid("b")]})
    with pytest.raises(WeChatError) as err:
        wx.send_subscribe_message(fake_openid("b"), "TplAbc12345", {"thing1": "x"})
    assert err.value.errcode == 43101
    with pytest.raises(WeChatError) as err:
        wx.send_subscribe_message(fake_openid("a"), "?", {"thing1": "x"})
    assert err.value.errcode == 40037


def test_wxacode_unlimit_returns_png_bytes(wx):
    png = wx.get_wxacode_unlimit("c=Zx81", "pages/scan/scan", width=280)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == ["c=Zx81"]


def test_wxacode_unlimit_error_is_json(wx):
    with pytest.raises(WeChatError) as err:
        wx.get_wxacode_unlimit("x" * 33, "pages/scan/scan")
    assert err.value.errcode == 40169
    with pytest.raises(WeChatError) as err:
        wx.get_wxacode_unlimit("ok", "/pages/scan/scan")
    assert err.value.errcode == 41030


def test_wxacode_unlimit_retries_after_40001(wx, fake_wechat):
    wx.get_access_token()
    fake_wechat.control("access_token/invalidate")
    assert wx.get_wxacode_unlimit("s=1").startswith(b"\x89PNG")


# One client per app.


def test_get_wechat_client_is_one_per_app_and_follows_the_config(app):
    saved = app.config["REDIS_URL"]
    try:
        app.config["REDIS_URL"] = None
        first = get_wechat_client(app)
        assert get_wechat_client(app) is first
        assert isinstance(first.token_cache, DatabaseTokenCache)
        app.config["REDIS_URL"] = REDIS_URL
        second = get_wechat_client(app)
        assert second is not first
        assert isinstance(second.token_cache, RedisTokenCache)
    finally:
        app.config["REDIS_URL"] = saved
    assert app.config["WECHAT_SECRET"] not in repr(first)
