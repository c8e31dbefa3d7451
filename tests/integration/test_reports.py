"""Villagers' own reports through HTTP: the JSON API, content security, rate limits, linking,
receipts, held reports, and the whole loop from a QR report to 销号."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from backend.extensions import db, limiter
from backend.models import (
    AuditLog,
    Photo,
    Problem,
    ProblemEvent,
    Report,
    Role,
    WarningFlag,
    utcnow,
)
from backend.services.reports import RECEIPT_ALPHABET
from backend.wechat.fake_server import fake_openid
from tests import factories
from tests.integration.test_cards import _personal_strings
from tests.integration.test_photos import assert_error, make_jpeg
from tests.integration.test_photos import upload as upload_staff_photo

URL = "/api/v1/reports"
PHOTOS_URL = "/api/v1/reports/photos"
TEXT = "家里的自来水已经停了三天，挑水要走很远。"
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"

# A closed report's receipt timeline, as the villager reads it (JSON and the web page alike).
CLOSED_TIMELINE = [
    "已提交反映",
    "村里已受理，正在调查",
    "已报镇里审核",
    "已交给责任单位办理",
    "责任单位开始整改",
    "整改完成，等待核验",
    "核验通过",
    "已办结销号",
]


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def card(town):
    """The active card of the standard household."""
    return factories.CardFactory(household=town.household)


def post_report(client, card, *, ip: str = "10.0.0.1", **fields):
    """POST a report with the card's token (defaults: a water problem)."""
    body = {"card_token": card.token, "description": TEXT, "area": "water", **fields}
    return client.post(URL, json=body, environ_base={"REMOTE_ADDR": ip})


def post_photo(client, card, data: bytes, *, client_uuid: str | None = None, token=None):
    """Upload one villager photo against the card."""
    body = {
        "card_token": token if token is not None else card.token,
        "client_uuid": client_uuid or str(uuid.uuid4()),
        "file": (io.BytesIO(data), "photo.jpg"),
    }
    return client.post(PHOTOS_URL, data=body, content_type="multipart/form-data")


def report_row(receipt_code: str) -> Report:
    """The stored report of a receipt code."""
    return db.session.scalar(select(Report).where(Report.receipt_code == receipt_code))


def problem_of(receipt_code: str) -> Problem:
    """The problem a receipt's report opened or joined."""
    return db.session.get(Problem, report_row(receipt_code).problem_id)


def count(model) -> int:
    """Rows of a table."""
    return db.session.scalar(select(func.count()).select_from(model))


def transition(client, login, user, problem_id: int, action: str, **body):
    """Move a problem one step through the problems API."""
    response = client.post(
        f"/api/v1/problems/{problem_id}/transitions",
        json={"action": action, **body},
        headers=login(user),
    )
    assert response.status_code == 200, response.data
    return response.get_json()


def receipt(client, code: str) -> dict:
    """A receipt's public progress."""
    response = client.get(f"{URL}/{code}")
    assert response.status_code == 200, response.data
    return response.get_json()


def walk_to_closed(client, login, town, problem_id: int, on_step=None) -> None:
    """Take a villager's problem from reported to closed, with evidence, as the roles do."""
    on_step = on_step or (lambda status: None)
    transition(client, login, town.village_cadre, problem_id, "accept")
    on_step("accepted")
    transition(client, login, town.village_cadre, problem_id, "submit_review", note="入户核实属实")
    on_step("town_review")
    transition(client, login, town.town_admin, problem_id, "assign", office_code="nyfw")
    on_step("assigned")
    transition(client, login, town.office, problem_id, "start")
    on_step("rectifying")
    evidence = upload_staff_photo(client, login(town.office), make_jpeg(901), purpose="evidence")
    assert evidence.status_code == 201, evidence.data
    transition(
        client,
        login,
        town.office,
        problem_id,
        "rectify",
        note="已修复管道，联系人 13900001111",
        photo_ids=[evidence.get_json()["id"]],
    )
    on_step("rectified")
    transition(client, login, town.town_admin, problem_id, "verify")
    on_step("verified")
    transition(client, login, town.town_admin, problem_id, "close")
    on_step("closed")


# --- areas ------------------------------------------------------------------------------------


def test_areas_are_public_and_come_from_the_routing_table(client):
    response = client.get(f"{URL}/areas")
    assert response.status_code == 200
    areas = response.get_json()
    assert {"area": "water", "label": "饮水安全"} in areas
    assert areas[-1] == {"area": "other", "label": "其他"}
    assert "authenticity" not in {a["area"] for a in areas}  # spot-checks only
    assert len({a["area"] for a in areas}) == len(areas)  # one per area, not per check


# --- reporting --------------------------------------------------------------------------------


def test_a_report_opens_a_reported_problem_for_the_areas_office(client, town, card):
    response = post_report(client, card)
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert set(body) == {
        "receipt_code",
        "status",
        "status_label",
        "area",
        "area_label",
        "created_at",
        "linked",
        "moderation",
    }
    assert body["status"] == "reported"
    assert body["status_label"] == "已反映"
    assert (body["area"], body["area_label"]) == ("water", "饮水安全")
    assert body["linked"] is False
    assert body["moderation"] == "pass"
    code = body["receipt_code"]
    assert re.fullmatch(f"[{RECEIPT_ALPHABET}]{{10}}", code)
    assert not set(code) & set("0O1I")

    report = report_row(code)
    assert report.household_id == town.household.id
    assert report.card_id == card.id
    assert report.channel == "miniprogram"
    assert report.reporter_openid is None
    assert report.reporter_ip_hash and "10.0.0.1" not in report.reporter_ip_hash
    problem = db.session.get(Problem, report.problem_id)
    assert problem.source == "villager_report"
    assert problem.status == "reported"
    assert problem.office_code == "nyfw"
    assert problem.area == "water"
    assert problem.description == TEXT
    # A villager's report must be accepted by the village within PROBLEM_ACCEPT_DEADLINE_DAYS.
    assert abs(problem.deadline_at - (utcnow() + timedelta(days=2))) < timedelta(minutes=1)
    [opened] = problem.events
    assert (opened.action, opened.actor_label, opened.actor_user_id) == ("open", "农户", None)
    assert opened.data["receipt_code"] == code


def test_area_defaults_to_other(client, card):
    response = post_report(client, card, area=None)
    assert response.status_code == 201, response.data
    assert response.get_json()["area"] == "other"
    assert problem_of(response.get_json()["receipt_code"]).office_code == "fpb"


def test_a_replay_with_the_same_client_uuid_returns_the_first_report(client, card):
    client_uuid = str(uuid.uuid4())
    first = post_report(client, card, client_uuid=client_uuid)
    assert first.status_code == 201
    again = post_report(client, card, client_uuid=client_uuid, description="另一段文字")
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert count(Report) == 1
    assert count(Problem) == 1


def test_a_client_uuid_of_another_households_report_is_a_conflict(client, town, card):
    client_uuid = str(uuid.uuid4())
    assert post_report(client, card, client_uuid=client_uuid).status_code == 201
    other_card = factories.CardFactory(household=town.other_household)
    response = post_report(client, other_card, client_uuid=client_uuid)
    assert_error(response, 409, "report.conflict", "该提交编号已用于另一户的反映，请重新提交。")
    assert count(Report) == 1


def test_an_unknown_card_token_is_404(client, town):
    response = client.post(URL, json={"card_token": "NoSuchToken000000000000", "description": TEXT})
    assert_error(response, 404, "card.not_found", "二维码无效，请核对明白卡。")
    assert count(Report) == 0


def test_a_replaced_card_token_is_410(client, town, login, card):
    reissue = client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.town_admin)
    )
    assert reissue.status_code == 201
    response = post_report(client, card)
    assert_error(response, 410, "card.replaced", "此二维码已作废，请使用新换发的明白卡。")
    assert count(Report) == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"description": "   "}, "description", "请写下您要反映的问题。"),
        ({"description": "水" * 501}, "description", "内容过长：最多 500 字，现在 501 字。"),
        ({"area": "flying_saucers"}, "area", "问题类别不存在，请从列表中选择。"),
        ({"area": "authenticity"}, "area", "问题类别不存在，请从列表中选择。"),
        ({"photo_ids": list(range(1, 8))}, "photo_ids", "最多上传 6 张照片。"),
    ],
)
def test_bad_reports_are_422_with_chinese_field_messages(client, card, fields, field, message):
    response = post_report(client, card, **fields)
    error = assert_error(response, 422, "request.validation", "提交的数据有误，请检查后重试。")
    assert error["fields"]["json"][field] == [message]
    assert count(Report) == 0


def test_a_report_without_card_token_or_description_is_422(client, town):
    response = client.post(URL, json={"area": "water"})
    error = assert_error(response, 422, "request.validation")
    assert error["fields"]["json"]["card_token"] == ["必填项不能为空。"]
    assert error["fields"]["json"]["description"] == ["必填项不能为空。"]


# --- photos -----------------------------------------------------------------------------------


def test_villager_photos_are_stored_anonymously_against_the_card(client, town, card):
    client_uuid = str(uuid.uuid4())
    response = post_photo(client, card, make_jpeg(11), client_uuid=client_uuid)
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert set(body) == {"id", "client_uuid", "thumb_url"}
    assert body["client_uuid"] == client_uuid
    assert body["thumb_url"].startswith("https://hhq.example.cn/")
    photo = db.session.get(Photo, body["id"])
    assert (photo.uploader_id, photo.card_id, photo.household_id) == (
        None,
        card.id,
        town.household.id,
    )
    assert photo.purpose == "report"
    assert (photo.width, photo.height) == (640, 480)

    again = post_photo(client, card, make_jpeg(11), client_uuid=client_uuid)
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]
    assert count(Photo) == 1


def test_a_report_claims_its_photos_for_the_problem(client, card):
    ids = [post_photo(client, card, make_jpeg(seed)).get_json()["id"] for seed in (21, 22)]
    response = post_report(client, card, photo_ids=ids)
    assert response.status_code == 201, response.data
    problem = problem_of(response.get_json()["receipt_code"])
    assert problem.photo_ids == ids
    assert [p.problem_id for p in db.session.scalars(select(Photo).order_by(Photo.id))] == [
        problem.id,
        problem.id,
    ]
    assert problem.events[0].photo_ids == ids


def test_photos_of_another_card_or_staff_are_refused(client, town, login, card):
    other_card = factories.CardFactory(household=town.other_household)
    foreign = post_photo(client, other_card, make_jpeg(31)).get_json()["id"]
    staff = upload_staff_photo(client, login(town.helper), make_jpeg(32)).get_json()["id"]
    response = post_report(client, card, photo_ids=[foreign, staff, 999999])
    error = assert_error(
        response,
        422,
        "report.photo_invalid",
        "照片不存在或不是用这张明白卡上传的，请重新上传照片。",
    )
    assert error["details"]["photo_ids"] == [foreign, staff, 999999]
    assert count(Report) == 0


def test_a_photo_uuid_of_another_card_is_a_conflict(client, town, card):
    client_uuid = str(uuid.uuid4())
    assert post_photo(client, card, make_jpeg(41), client_uuid=client_uuid).status_code == 201
    other_card = factories.CardFactory(household=town.other_household)
    response = post_photo(client, other_card, make_jpeg(41), client_uuid=client_uuid)
    assert_error(response, 409, "photo.conflict")


def test_bad_photo_uploads_get_the_same_checks_as_staff_photos(client, town, login, card):
    not_image = post_photo(client, card, b"%PDF-1.4 this is not a photo at all")
    assert_error(
        not_image,
        415,
        "photo.not_image",
        "文件不是图片，请上传 JPEG、PNG 或 WebP 格式的照片。",
    )
    truncated = post_photo(client, card, make_jpeg(51)[:5000])
    assert_error(truncated, 422, "photo.truncated")
    unknown = post_photo(client, card, make_jpeg(52), token="NoSuchToken000000000000")
    assert_error(unknown, 404, "card.not_found")
    client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.town_admin)
    )
    replaced = post_photo(client, card, make_jpeg(53))
    assert_error(replaced, 410, "card.replaced")
    missing = client.post(
        PHOTOS_URL,
        data={"card_token": "x", "client_uuid": "nope"},
        content_type="multipart/form-data",
    )
    error = assert_error(missing, 422, "request.validation")
    assert error["fields"]["multipart"]["file"] == ["必填项不能为空。"]
    assert error["fields"]["multipart"]["client_uuid"] == ["应为 UUID。"]
    assert count(Photo) == 0


# --- content security -------------------------------------------------------------------------


def test_risky_content_is_refused_with_the_reason(client, card):
    response = post_report(client, card, description="六合彩内部资料，稳赚不赔")
    error = assert_error(
        response,
        422,
        "report.content_refused",
        "反映内容未通过内容安全检查（违法犯罪），请修改后重新提交。",
    )
    assert error["details"] == {"reason": "违法犯罪", "label": 20006, "source": "local"}
    assert count(Report) == 0


def test_junk_is_refused_by_the_local_heuristics(client, card):
    response = post_report(client, card, description="啊啊啊啊啊啊")
    error = assert_error(response, 422, "report.content_refused")
    assert error["details"]["reason"] == "内容重复，没有说明具体问题"


def test_review_content_is_held_without_a_problem(client, card):
    response = post_report(client, card, description="有人上门说可以代开发票，收了钱")
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["moderation"] == "review"
    assert (body["status"], body["status_label"]) == ("held", "已收到，待审核")
    report = report_row(body["receipt_code"])
    assert report.problem_id is None
    assert report.moderation_detail["reason"] == "广告"
    assert count(Problem) == 0


def test_openid_is_kept_and_wechat_judges_the_text(client, card, wechat_app, fake_wechat):
    response = post_report(client, card, wechat_code="dev-villager")
    assert response.status_code == 201, response.data
    report = report_row(response.get_json()["receipt_code"])
    assert report.reporter_openid == fake_openid("villager")
    assert report.moderation_detail["source"] == "wechat"
    [check] = fake_wechat.calls("msg_sec_check")
    assert check["errcode"] == 0


def test_wechat_risky_is_refused_with_wechats_label(client, card, wechat_app, fake_wechat):
    response = post_report(client, card, wechat_code="dev-villager", description="fake-risky 内容")
    error = assert_error(
        response,
        422,
        "report.content_refused",
        "反映内容未通过内容安全检查（违法犯罪），请修改后重新提交。",
    )
    assert error["details"] == {"reason": "违法犯罪", "label": 20006, "source": "wechat"}
    assert count(Report) == 0


def test_wechat_review_is_held(client, card, wechat_app, fake_wechat):
    response = post_report(client, card, wechat_code="dev-villager", description="fake-review 内容")
    assert response.status_code == 201, response.data
    assert response.get_json()["moderation"] == "review"
    report = report_row(response.get_json()["receipt_code"])
    assert report.moderation_detail["reason"] == "其他"
    assert report.reporter_openid == fake_openid("villager")


def test_a_failed_wechat_login_keeps_the_report_without_openid(
    client, card, wechat_app, fake_wechat
):
    response = post_report(client, card, wechat_code="err-40029")
    assert response.status_code == 201, response.data
    report = report_row(response.get_json()["receipt_code"])
    assert report.reporter_openid is None
    assert report.moderation_detail["source"] == "local"
    assert fake_wechat.calls("msg_sec_check") == []


def test_wechat_unreachable_falls_back_to_the_local_check(client, card, app, monkeypatch):
    # WECHAT_API_BASE of the test app points at a closed port: neither login nor check works.
    refused = post_report(client, card, wechat_code="dev-villager", description="六合彩")
    assert_error(refused, 422, "report.content_refused")
    assert refused.get_json()["error"]["details"]["source"] == "local"
    passed = post_report(client, card, wechat_code="dev-villager")
    assert passed.status_code == 201


# --- rate limits ------------------------------------------------------------------------------


def test_a_flood_from_one_card_is_429_with_a_chinese_message(client, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "2 per hour")
    for n in range(2):
        assert post_report(client, card, ip=f"10.0.1.{n}").status_code == 201
    response = post_report(client, card, ip="10.0.1.9")
    error = assert_error(response, 429, "request.rate_limited")
    assert (
        error["message"]
        == "提交过于频繁，请约 60 分钟后再试；如有急事，请拨打镇扶贫办热线 023-45600000。"
    )
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert count(Report) == 2


def test_a_flood_from_one_address_is_429_across_cards(client, town, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CLIENT", "2 per hour")
    other_card = factories.CardFactory(household=town.other_household)
    assert post_report(client, card).status_code == 201
    assert post_report(client, other_card).status_code == 201
    assert_error(post_report(client, card), 429, "request.rate_limited")
    # Another address is another client.
    assert post_report(client, card, ip="10.9.9.9").status_code == 201


def test_with_a_wechat_login_the_client_is_the_openid(
    client, card, app, monkeypatch, wechat_app, fake_wechat
):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CLIENT", "1 per hour")
    # Two people behind one carrier address are two clients ...
    assert post_report(client, card, wechat_code="dev-a", ip="10.0.0.1").status_code == 201
    assert post_report(client, card, wechat_code="dev-b", ip="10.0.0.1").status_code == 201
    # ... and one person moving between addresses stays one.
    response = post_report(client, card, wechat_code="dev-a~2", ip="10.0.0.2")
    assert_error(response, 429, "request.rate_limited")


def test_replays_and_staff_endpoints_are_not_limited(client, town, login, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "1 per hour")
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CLIENT", "1 per hour")
    client_uuid = str(uuid.uuid4())
    assert post_report(client, card, client_uuid=client_uuid).status_code == 201
    for _ in range(3):  # a weak connection resending the same report
        assert post_report(client, card, client_uuid=client_uuid).status_code == 200
    assert_error(post_report(client, card), 429, "request.rate_limited")
    headers = login(town.town_admin)
    for _ in range(5):
        assert client.get(URL, headers=headers).status_code == 200
        assert client.get("/api/v1/problems", headers=headers).status_code == 200
    # Reading a receipt is not submitting.
    code = report_row_codes()[0]
    for _ in range(5):
        assert client.get(f"{URL}/{code}").status_code == 200


def report_row_codes() -> list[str]:
    """Receipt codes of every stored report."""
    return list(db.session.scalars(select(Report.receipt_code).order_by(Report.id)))


def test_photo_uploads_have_their_own_larger_allowance(client, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "1 per hour")
    monkeypatch.setitem(app.config, "REPORT_MAX_PHOTOS", 2)
    for seed in (61, 62):
        assert post_photo(client, card, make_jpeg(seed)).status_code == 201
    assert_error(post_photo(client, card, make_jpeg(63)), 429, "request.rate_limited")
    # Photos did not use up the report's own allowance.
    assert post_report(client, card).status_code == 201


def test_counters_are_reset_between_tests(client, card, app, monkeypatch):
    # The flood tests above used this card token's bucket; this one starts from zero.
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "1 per hour")
    assert post_report(client, card).status_code == 201


@pytest.fixture
def redis_limits(app, rate_limits):
    """The limiter on a real Redis (database 15), emptied before and after the test."""
    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip("Redis does not answer at 127.0.0.1:6379")
    connection.flushdb()
    app.config["RATELIMIT_STORAGE_URI"] = REDIS_TEST_URL
    limiter.init_app(app)
    yield connection
    limiter.reset()
    connection.flushdb()
    connection.close()
    # rate_limits puts the memory storage back.


def test_counters_live_in_redis(client, card, app, monkeypatch, redis_limits):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "2 per hour")
    for _ in range(2):
        assert post_report(client, card).status_code == 201
    keys = [k.decode() for k in redis_limits.keys("*")]
    assert any("hhq" in k and "report-card" in k for k in keys), keys
    assert not any(card.token in k or "10.0.0.1" in k for k in keys), keys
    # A fresh connection to the same Redis (another worker, a restart) sees the same counts.
    limiter.init_app(app)
    assert_error(post_report(client, card), 429, "request.rate_limited")


# --- linking repeated reports ----------------------------------------------------------------


def test_a_repeated_report_of_the_same_area_is_linked(client, login, town, card):
    first = post_report(client, card).get_json()
    second = post_report(client, card, description="还是没有水，请尽快处理").get_json()
    assert second["linked"] is True
    assert second["status"] == "reported"
    problem = problem_of(first["receipt_code"])
    assert report_row(second["receipt_code"]).problem_id == problem.id
    assert count(Problem) == 1
    linked = problem.events[-1]
    assert linked.action == "report_linked"
    assert linked.note == "还是没有水，请尽快处理"
    assert linked.data["receipt_code"] == second["receipt_code"]
    detail = client.get(f"/api/v1/problems/{problem.id}", headers=login(town.town_admin))
    assert [r["receipt_code"] for r in detail.get_json()["reports"]] == [
        first["receipt_code"],
        second["receipt_code"],
    ]


def test_another_area_opens_another_problem(client, card):
    first = post_report(client, card).get_json()
    second = post_report(client, card, area="housing", description="房子漏雨，墙有裂缝").get_json()
    assert second["linked"] is False
    assert problem_of(first["receipt_code"]).id != problem_of(second["receipt_code"]).id
    assert problem_of(second["receipt_code"]).office_code == "ghjs"


def test_outside_the_window_a_new_problem_is_opened(client, card, app):
    first = post_report(client, card).get_json()
    old = report_row(first["receipt_code"])
    old.created_at = utcnow() - timedelta(days=app.config["REPORT_LINK_WINDOW_DAYS"] + 1)
    db.session.flush()
    second = post_report(client, card).get_json()
    assert second["linked"] is False
    assert count(Problem) == 2


def test_after_the_problem_is_closed_a_new_problem_is_opened(client, login, town, card):
    first = post_report(client, card).get_json()
    walk_to_closed(client, login, town, problem_of(first["receipt_code"]).id)
    second = post_report(client, card).get_json()
    assert second["linked"] is False
    assert second["status"] == "reported"
    assert count(Problem) == 2


def test_a_report_links_to_the_problem_its_duplicate_was_merged_into(client, login, town, card):
    water = post_report(client, card).get_json()
    housing = post_report(client, card, area="housing", description="房子漏雨").get_json()
    water_problem = problem_of(water["receipt_code"])
    housing_problem = problem_of(housing["receipt_code"])
    transition(
        client,
        login,
        town.village_cadre,
        water_problem.id,
        "merge",
        target_problem_id=housing_problem.id,
    )
    # The receipt follows the problem it was merged into.
    merged = receipt(client, water["receipt_code"])
    assert (merged["status"], merged["status_label"]) == ("reported", "已反映")
    assert merged["timeline"][-1]["label"] == "已与同类问题合并办理"
    third = post_report(client, card).get_json()
    assert third["linked"] is True
    assert report_row(third["receipt_code"]).problem_id == housing_problem.id


# --- receipts ---------------------------------------------------------------------------------


def test_the_receipt_shows_progress_and_nothing_personal(client, login, town, card):
    code = post_report(client, card, contact_ok=True).get_json()["receipt_code"]
    problem_id = problem_of(code).id
    transition(client, login, town.village_cadre, problem_id, "accept", note="村干部张三已入户")
    response = client.get(f"{URL}/{code.lower()}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {
        "receipt_code",
        "status",
        "status_label",
        "area_label",
        "created_at",
        "updated_at",
        "timeline",
    }
    assert (body["status"], body["status_label"]) == ("accepted", "村已受理")
    assert body["area_label"] == "饮水安全"
    assert [step["label"] for step in body["timeline"]] == ["已提交反映", "村里已受理，正在调查"]
    assert body["updated_at"] == body["timeline"][-1]["at"]
    text = response.get_data(as_text=True)
    for value in [*_personal_strings(town), "张三", "村干部", town.village_cadre.display_name]:
        assert value not in text, value
    assert "nyfw" not in text and "农业服务中心" not in text
    assert problem_of(code).events[0].data["contact_ok"] is True


def test_an_unknown_receipt_code_is_404(client, town):
    for code in ("ABCDEFGHJK", "not-a-code", "0000000000"):
        response = client.get(f"{URL}/{code}")
        assert_error(response, 404, "report.not_found", "没有找到这条反映，请核对回执码。")


# --- staff: list, release, discard ------------------------------------------------------------


def test_staff_list_reports_in_scope_with_filters(client, login, town, card):
    passed = post_report(client, card).get_json()
    held = post_report(client, card, description="代开发票的人来过").get_json()
    other_card = factories.CardFactory(household=town.other_household)
    post_report(client, other_card, ip="10.0.0.2")

    response = client.get(URL, headers=login(town.town_admin))
    assert response.status_code == 200
    page = response.get_json()
    assert (page["total"], page["page"], page["page_size"]) == (3, 1, 50)
    item = next(i for i in page["items"] if i["receipt_code"] == passed["receipt_code"])
    assert item["household_id"] == town.household.id
    assert item["household_number"] == town.household.number
    assert item["village"] == {"id": town.village.id, "name": "石桥村"}
    assert (item["moderation"], item["moderation_label"]) == ("pass", "已通过")
    assert item["description"] == TEXT
    assert item["from_wechat"] is False
    assert "reporter_openid" not in item and "reporter_ip_hash" not in item

    held_only = client.get(f"{URL}?moderation=review", headers=login(town.town_admin)).get_json()
    assert [i["receipt_code"] for i in held_only["items"]] == [held["receipt_code"]]
    assert held_only["items"][0]["moderation_reason"] == "广告"
    assert held_only["items"][0]["problem_id"] is None

    mine = client.get(
        f"{URL}?household_id={town.other_household.id}", headers=login(town.town_admin)
    ).get_json()
    assert mine["total"] == 1

    cadre = client.get(URL, headers=login(town.village_cadre)).get_json()
    assert {i["village"]["name"] for i in cadre["items"]} == {"石桥村"}
    assert cadre["total"] == 2


def test_staff_list_refuses_other_roles_and_strangers(client, login, town):
    assert_error(client.get(URL), 401, "auth.required")
    assert_error(client.get(URL, headers=login(town.helper)), 403, "auth.forbidden")
    assert_error(client.get(URL, headers=login(town.office)), 403, "auth.forbidden")
    bad = client.get(f"{URL}?moderation=maybe", headers=login(town.town_admin))
    assert_error(bad, 422, "request.validation")


def test_a_town_admin_releases_a_held_report_into_a_problem(client, login, town, card):
    held = post_report(
        client, card, description="有人说能代开发票，我们家的水也一直没通"
    ).get_json()
    report_id = report_row(held["receipt_code"]).id
    response = client.post(
        f"{URL}/{report_id}/release",
        json={"note": "核实为正常反映"},
        headers=login(town.town_admin),
    )
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert (body["moderation"], body["status"]) == ("released", "reported")
    problem = db.session.get(Problem, body["problem_id"])
    assert (problem.source, problem.status, problem.office_code) == (
        "villager_report",
        "reported",
        "nyfw",
    )
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.action == "report.released"))
    assert audit.actor_user_id == town.town_admin.id
    assert audit.target_id == str(report_id)
    progress = receipt(client, held["receipt_code"])
    assert progress["status"] == "reported"
    assert [s["label"] for s in progress["timeline"]] == ["已提交反映", "已通过审核"]

    again = client.post(f"{URL}/{report_id}/release", json={}, headers=login(town.town_admin))
    error = assert_error(again, 409, "report.not_held")
    assert error["details"] == {"moderation": "released"}


def test_a_released_report_links_to_an_open_problem_of_the_same_area(client, login, town, card):
    first = post_report(client, card).get_json()
    held = post_report(client, card, description="水的事，有人说加微信能办").get_json()
    report_id = report_row(held["receipt_code"]).id
    body = client.post(
        f"{URL}/{report_id}/release", json={}, headers=login(town.town_admin)
    ).get_json()
    assert body["linked"] is True
    assert body["problem_id"] == problem_of(first["receipt_code"]).id


def test_a_town_admin_discards_a_held_report_with_a_reason(client, login, town, card):
    held = post_report(client, card, description="代开发票，联系我").get_json()
    report_id = report_row(held["receipt_code"]).id
    url = f"{URL}/{report_id}/discard"
    no_reason = client.post(url, json={"note": "  "}, headers=login(town.town_admin))
    error = assert_error(no_reason, 422, "request.validation")
    assert error["fields"]["json"]["note"] == ["请填写退回理由。"]

    response = client.post(url, json={"note": "广告信息"}, headers=login(town.town_admin))
    assert response.status_code == 200, response.data
    assert response.get_json()["moderation"] == "discarded"
    assert count(Problem) == 0
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.action == "report.discarded"))
    assert audit.detail == {"note": "广告信息"}
    progress = receipt(client, held["receipt_code"])
    assert (progress["status"], progress["status_label"]) == ("discarded", "未予受理")
    release = client.post(f"{URL}/{report_id}/release", json={}, headers=login(town.town_admin))
    assert_error(release, 409, "report.not_held")


def test_only_a_town_admin_in_scope_decides_on_held_reports(client, login, town, card):
    held = post_report(client, card, description="代开发票").get_json()
    report_id = report_row(held["receipt_code"]).id
    url = f"{URL}/{report_id}/release"
    assert_error(client.post(url, json={}), 401, "auth.required")
    assert_error(
        client.post(url, json={}, headers=login(town.village_cadre)), 403, "auth.forbidden"
    )
    far_admin = factories.user_with_role(Role.TOWN_ADMIN, town.far_village)
    assert_error(client.post(url, json={}, headers=login(far_admin)), 404, "report.not_found")
    missing = client.post(
        f"{URL}/999999/discard", json={"note": "x"}, headers=login(town.town_admin)
    )
    assert_error(missing, 404, "report.not_found")
    assert report_row(held["receipt_code"]).moderation == "review"


# --- the whole loop ---------------------------------------------------------------------------


def test_a_qr_report_is_accepted_reviewed_assigned_rectified_verified_and_closed(
    client, login, town, card
):
    photo_id = post_photo(client, card, make_jpeg(71)).get_json()["id"]
    created = post_report(client, card, photo_ids=[photo_id]).get_json()
    code = created["receipt_code"]
    problem_id = problem_of(code).id
    seen = []

    def follow(status):
        progress = receipt(client, code)
        assert progress["status"] == status
        seen.append(progress["status_label"])

    walk_to_closed(client, login, town, problem_id, on_step=follow)
    assert seen == ["村已受理", "镇审核中", "已交办", "整改中", "已整改", "已核验", "已销号"]
    final = receipt(client, code)
    assert [s["label"] for s in final["timeline"]] == CLOSED_TIMELINE
    assert "13900001111" not in str(final)  # the office's note stays with staff
    problem = db.session.get(Problem, problem_id)
    assert problem.status == "closed" and problem.closed_at is not None
    actions = [
        e.action
        for e in db.session.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem_id)
            .order_by(ProblemEvent.id)
        )
    ]
    assert actions == [
        "open",
        "accept",
        "submit_review",
        "assign",
        "start",
        "rectify",
        "verify",
        "close",
    ]


def test_a_report_of_sudden_hardship_raises_an_early_warning_flag(client, town, card):
    """A villager's report of serious illness flags the household for the town's review."""
    response = post_report(
        client, card, area="basic_living", description="家里老人突发大病住院，生活困难"
    )
    assert response.status_code == 201, response.data
    flags = db.session.scalars(
        select(WarningFlag).where(WarningFlag.household_id == town.household.id)
    ).all()
    assert [(f.reason, f.source, f.status) for f in flags] == [
        ("sudden_hardship", "report", "pending")
    ]


def test_only_the_limited_views_consult_the_limiter(client, town, card, login, monkeypatch):
    """Views without limits never reach the limiter; the report views still check theirs."""
    hooks = client.application.before_request_funcs[None]
    assert limiter._check_request_limit not in hooks
    calls = []
    monkeypatch.setattr(limiter, "_check_request_limit", lambda **kw: calls.append(kw))
    assert client.get("/api/v1/reports/areas").status_code == 200
    helper = login(town.helper)
    assert client.get("/api/v1/visits", headers=helper).status_code == 200
    assert client.post("/api/v1/visits", json={}, headers=helper).status_code == 422
    assert calls == []
    assert post_report(client, card).status_code == 201
    assert calls and all(call["in_middleware"] is False for call in calls)
