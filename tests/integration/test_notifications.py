"""Notifications end to end: queued with their event, sent by the worker to (fake) WeChat."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    Problem,
    Report,
    Role,
)
from backend.services.auth import actor_for_user
from backend.services.notifications import enqueue_notification, send_due_notifications
from backend.services.problems import transition_problem
from backend.wechat.client import get_wechat_client
from backend.wechat.fake_server import fake_openid
from tests.factories import PhotoFactory, user_with_role
from tests.helpers import gps_fix, make_problem, submit_visit, visit_body
from tests.live_app import on_postgresql, own_app

OFFICE_OPENID = fake_openid("office-nyfw")


def _fail_water_check(client, town, login):
    now = datetime.now(UTC)
    gps = gps_fix(town.household, accuracy=12.5, captured_at=now - timedelta(minutes=10))
    body = visit_body(
        town.household,
        town.helper,
        ended_at=now - timedelta(minutes=5),
        minutes=15,
        gps=gps,
        water_quality=False,
    )
    return submit_visit(client, login, town.helper, body)


def _rows(**filters) -> list[Notification]:
    query = select(Notification).order_by(Notification.id)
    for name, value in filters.items():
        query = query.where(getattr(Notification, name) == value)
    return list(db.session.scalars(query))


def _water_problem() -> Problem:
    return db.session.scalars(select(Problem).where(Problem.check_key == "water_quality")).one()


@pytest.fixture
def office_openid(town):
    """The town's nyfw office user has bound WeChat."""
    town.office.wechat_openid = OFFICE_OPENID
    db.session.flush()
    return OFFICE_OPENID


def test_failing_check_queues_assignment_for_the_office(client, town, login, office_openid):
    unbound = user_with_role(Role.OFFICE, town.village, office_code="nyfw", display_name="农服二")
    user_with_role(Role.OFFICE, town.town, office_code="mzb", wechat_openid=fake_openid("mzb"))
    user_with_role(Role.OFFICE, town.far_village, office_code="nyfw")

    _fail_water_check(client, town, login)

    problem = _water_problem()
    rows = _rows()
    assert [(r.recipient_user_id, r.status) for r in rows] == [
        (town.office.id, NotificationStatus.PENDING),
        (unbound.id, NotificationStatus.NO_RECIPIENT),
    ]
    row = rows[0]
    assert row.kind == NotificationKind.OFFICE_ASSIGNED
    assert row.recipient_openid == office_openid
    assert row.template_id == "tmpl-assigned"
    assert row.problem_id == problem.id
    assert row.page == f"pages/problems/detail?id={problem.id}"
    assert row.data["thing2"]["value"] == problem.title[:20]
    assert set(row.data) == {"character_string1", "thing2", "thing3", "time4", "thing5"}


def test_same_open_problem_is_not_notified_twice(client, town, login, office_openid):
    _fail_water_check(client, town, login)
    _fail_water_check(client, town, login)
    assert len(_rows(kind=NotificationKind.OFFICE_ASSIGNED)) == 1


def test_reassignment_notifies_the_new_office(app, town, office_openid):
    mzb = user_with_role(Role.OFFICE, town.town, office_code="mzb", wechat_openid=fake_openid("m"))
    problem = make_problem(town.household, "饮水水量不足")
    admin = actor_for_user(user=town.town_admin)
    transition_problem(
        actor=admin, problem=problem, action="reassign", office_code="mzb", note="应由民政办处理"
    )
    transition_problem(
        actor=admin, problem=problem, action="reassign", office_code="nyfw", note="退回农服中心"
    )
    assert [r.recipient_user_id for r in _rows(kind=NotificationKind.OFFICE_ASSIGNED)] == [
        town.office.id,
        mzb.id,
        town.office.id,
    ]


def test_worker_sends_through_wechat(wechat_app, fake_wechat, client, town, login, office_openid):
    _fail_water_check(client, town, login)
    row = _rows()[0]

    runner = wechat_app.test_cli_runner()
    result = runner.invoke(args=["hhq", "send-notifications"])

    assert result.exit_code == 0, result.output
    assert "已发送 1 条" in result.output
    messages = fake_wechat.control("messages")["messages"]
    assert len(messages) == 1
    message = messages[0]
    assert message["touser"] == office_openid
    assert message["template_id"] == "tmpl-assigned"
    assert message["data"] == row.data
    assert message["page"] == row.page
    assert message["miniprogram_state"] == "formal"
    db.session.refresh(row)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert row.sent_at is not None

    # Nothing is sent twice.
    again = send_due_notifications(client=get_wechat_client())
    assert again.handled == 0
    assert len(fake_wechat.control("messages")["messages"]) == 1


def test_no_subscription_is_recorded_and_never_retried(
    wechat_app, fake_wechat, client, town, login, office_openid
):
    fake_wechat.control("quota", {"no_quota": [office_openid]})
    _fail_water_check(client, town, login)
    row = _rows()[0]

    report = send_due_notifications(client=get_wechat_client())
    later = send_due_notifications(
        client=get_wechat_client(), now=datetime.now(UTC) + timedelta(days=7)
    )

    assert report.no_subscription == 1 and later.handled == 0
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_errcode) == (
        NotificationStatus.NO_SUBSCRIPTION,
        1,
        43101,
    )
    assert len(fake_wechat.calls("subscribe_send")) == 1
    assert fake_wechat.control("messages")["messages"] == []


def test_outage_is_retried_with_backoff_then_given_up(
    wechat_app, fake_wechat, client, town, login, office_openid, monkeypatch
):
    monkeypatch.setitem(wechat_app.config, "NOTIFY_MAX_ATTEMPTS", 3)
    _fail_water_check(client, town, login)
    row = _rows()[0]
    fake_wechat.control("outage", {"http_status": 503})
    wechat = get_wechat_client()
    t0 = datetime.now(UTC) + timedelta(seconds=1)

    first = send_due_notifications(client=wechat, now=t0)
    db.session.refresh(row)
    assert first.retried == 1
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.next_attempt_at == t0 + timedelta(minutes=1)
    assert "HTTP 503" in row.last_error and row.last_errcode is None

    # Not due yet: nothing happens before the backoff has passed.
    assert send_due_notifications(client=wechat, now=t0 + timedelta(seconds=30)).handled == 0

    second = send_due_notifications(client=wechat, now=t0 + timedelta(minutes=1))
    db.session.refresh(row)
    assert second.retried == 1 and row.attempts == 2
    assert row.next_attempt_at == t0 + timedelta(minutes=3)

    third = send_due_notifications(client=wechat, now=t0 + timedelta(minutes=3))
    db.session.refresh(row)
    assert third.failed == 1
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 3)
    assert send_due_notifications(client=wechat, now=t0 + timedelta(days=1)).handled == 0
    assert fake_wechat.control("messages")["messages"] == []


def test_requests_succeed_while_wechat_is_down(
    wechat_app, fake_wechat, client, town, login, office_openid
):
    fake_wechat.control("outage", {"http_status": 502})

    _fail_water_check(client, town, login)

    assert [r.status for r in _rows()] == [NotificationStatus.PENDING]
    assert fake_wechat.calls() == []  # the request never talked to WeChat

    # Once WeChat is back, the queued message goes out.
    fake_wechat.control("outage", {"http_status": None})
    assert send_due_notifications(client=get_wechat_client()).sent == 1


def _report(town, problem, *, openid, code):
    report = Report(
        receipt_code=code,
        household_id=town.household.id,
        region_path=town.household.region_path,
        area="water",
        description="自来水浑浊，有异味",
        channel="miniprogram" if openid else "web",
        reporter_openid=openid,
        problem_id=problem.id,
    )
    db.session.add(report)
    db.session.flush()
    return report


def test_villager_hears_when_the_report_is_accepted_and_closed(app, town, office_openid):
    villager = fake_openid("villager")
    problem = make_problem(
        town.household, "饮水水质差", status="reported", source="villager_report"
    )
    first = _report(town, problem, openid=villager, code="R7KQ2M9X")
    _report(town, problem, openid=None, code="R4WEBONLY")  # from a browser: nobody to message
    cadre = actor_for_user(user=town.village_cadre)
    admin = actor_for_user(user=town.town_admin)
    office = actor_for_user(user=town.office)

    transition_problem(actor=cadre, problem=problem, action="accept")
    accepted = _rows(kind=NotificationKind.REPORT_ACCEPTED)
    assert len(accepted) == 1
    row = accepted[0]
    assert (row.recipient_openid, row.recipient_user_id, row.status) == (villager, None, "pending")
    assert row.template_id == "tmpl-report-accepted"
    assert row.page == "pages/report/status?code=R7KQ2M9X"
    assert row.data["character_string1"] == {"value": first.receipt_code}
    assert row.data["thing2"] == {"value": "饮水安全"}
    assert row.data["phrase3"] == {"value": "已受理"}

    transition_problem(actor=cadre, problem=problem, action="submit_review", note="情况属实")
    transition_problem(actor=admin, problem=problem, action="assign", office_code="nyfw")
    transition_problem(actor=office, problem=problem, action="start")
    photo = PhotoFactory(uploader_id=town.office.id, purpose="evidence")
    transition_problem(
        actor=office, problem=problem, action="rectify", note="已更换滤芯", photo_ids=[photo.id]
    )
    transition_problem(actor=admin, problem=problem, action="verify")
    assert _rows(kind=NotificationKind.REPORT_CLOSED) == []
    transition_problem(actor=admin, problem=problem, action="close")

    closed = _rows(kind=NotificationKind.REPORT_CLOSED)
    assert [(r.recipient_openid, r.template_id) for r in closed] == [
        (villager, "tmpl-report-closed")
    ]
    assert closed[0].data["phrase3"] == {"value": "已销号"}
    assert closed[0].page == "pages/report/status?code=R7KQ2M9X"
    assert len(_rows(kind=NotificationKind.REPORT_ACCEPTED)) == 1
    # The assignment along the way reached the office.
    assert [r.recipient_user_id for r in _rows(kind=NotificationKind.OFFICE_ASSIGNED)] == [
        town.office.id
    ]


def test_reporters_of_a_merged_duplicate_hear_of_the_closing(app, town):
    villager = fake_openid("villager-dup")
    report = {"status": "reported", "source": "villager_report"}
    kept = make_problem(town.household, "饮水问题", **report)
    duplicate = make_problem(town.household, "饮水问题（重复）", **report)
    _report(town, duplicate, openid=villager, code="R2DUPLIC")
    cadre = actor_for_user(user=town.village_cadre)
    transition_problem(
        actor=cadre, problem=duplicate, action="merge", target_problem_id=kept.id, note="重复"
    )
    kept.status = "verified"
    transition_problem(actor=actor_for_user(user=town.town_admin), problem=kept, action="close")
    assert [r.recipient_openid for r in _rows(kind=NotificationKind.REPORT_CLOSED)] == [villager]


# The outbox view.


def _outbox_world(town):
    town.office.wechat_openid = OFFICE_OPENID
    make_problem(town.household, "饮水水质不达标")
    user_with_role(Role.OFFICE, town.far_village, office_code="nyfw")
    make_problem(town.far_household, "远方村饮水")


def test_town_admin_sees_the_outbox_of_their_region(client, town, login):
    _outbox_world(town)
    resp = client.get("/api/v1/notifications", headers=login(town.town_admin))
    assert resp.status_code == 200, resp.json
    assert resp.json["total"] == 1
    item = resp.json["items"][0]
    assert item["kind"] == "office_assigned" and item["kind_label"] == "问题交办"
    assert item["status"] == "pending" and item["status_label"] == "待发送"
    assert item["recipient"] == {"id": town.office.id, "display_name": "农服中心"}
    assert item["recipient_type"] == "staff" and item["has_openid"] is True
    assert "recipient_openid" not in item and OFFICE_OPENID not in str(resp.json)
    assert item["template_id"] == "tmpl-assigned"


def test_outbox_filters_by_status(client, town, login):
    _outbox_world(town)
    headers = login(town.town_admin)
    pending = client.get("/api/v1/notifications?status=pending", headers=headers)
    missing = client.get("/api/v1/notifications?status=no_recipient", headers=headers)
    assert pending.json["total"] == 1
    assert missing.json["total"] == 0  # the far district's unbound user is out of scope


def test_outbox_refuses_bad_status(client, town, login):
    resp = client.get("/api/v1/notifications?status=lost", headers=login(town.town_admin))
    assert resp.status_code == 422
    error = resp.json["error"]
    assert error["code"] == "request.validation"
    assert error["message"] == "提交的数据有误，请检查后重试。"
    assert "status" in error["fields"]["query"]


def test_outbox_is_for_admins_only(client, town, login):
    resp = client.get("/api/v1/notifications", headers=login(town.office))
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    anonymous = client.get("/api/v1/notifications")
    assert anonymous.status_code == 401
    assert anonymous.json["error"] == {"code": "auth.required", "message": "请先登录。"}


# Two workers at once (PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED).


@pytest.fixture
def pg_app(tmp_path):
    """An app on a PostgreSQL database of its own, with real commits."""
    if not on_postgresql():
        pytest.skip("row locking is proven on PostgreSQL; this run is on SQLite")
    with own_app(tmp_path, "notify", TESTING=True) as app:
        yield app


class SlowWeChat:
    """Records every send, slowly enough for two workers to overlap."""

    def __init__(self):
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send_subscribe_message(self, touser, template_id, data, page=None, **kw):
        time.sleep(0.02)
        with self.lock:
            self.sent.append(data["character_string1"]["value"])
        return 1


@pytest.mark.own_database
def test_two_workers_never_send_the_same_message(pg_app):
    with pg_app.app_context():
        for i in range(12):
            enqueue_notification(
                kind=NotificationKind.OVERDUE,
                dedup_key=f"concurrency:{i}",
                data={"character_string1": i},
                page=None,
                problem_id=None,
                recipient_openid=fake_openid(f"user{i}"),
            )
        db.session.commit()
    wechat = SlowWeChat()
    barrier = threading.Barrier(2)

    def worker():
        with pg_app.app_context():
            barrier.wait()
            send_due_notifications(client=wechat)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(wechat.sent, key=int) == [str(i) for i in range(12)]
    with pg_app.app_context():
        statuses = db.session.scalars(select(Notification.status)).all()
        assert statuses == ["sent"] * 12
