"""The notification outbox as a service: message data, recipients, enqueueing, one send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Notification, NotificationKind, NotificationStatus, Role
from backend.services import notifications as svc
from backend.services.problems import office_users, role_holders
from backend.wechat.client import WeChatError, WeChatUnavailable
from backend.wechat.fake_server import fake_openid
from tests.factories import GrantFactory, user_with_role
from tests.helpers import make_problem

NOW = datetime(2026, 11, 1, 16, 30, tzinfo=UTC)


# Message data.


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "thing2",
            "一二三四五六七八九十一二三四五六七八九十",
            "一二三四五六七八九十一二三四五六七八九十",
        ),
        (
            "thing2",
            "一二三四五六七八九十一二三四五六七八九十多",
            "一二三四五六七八九十一二三四五六七八九…",
        ),
        ("thing12", "  家中 饮水\n不足  ", "家中 饮水 不足"),
        ("phrase3", "已重新打开了", "已重新打开"),
        ("character_string1", "A" * 40, "A" * 32),
        ("character_string1", 17, "17"),
        ("time4", "2026-11-02 00:30", "2026-11-02 00:30"),
        ("thing5", None, ""),
    ],
)
def test_values_are_cut_to_wechat_limits(key, value, expected):
    assert svc.fit_value(key, value) == expected


def test_message_data_has_wechat_shape():
    data = svc.message_data({"thing2": "问" * 30, "phrase3": "整改中"})
    assert data == {"thing2": {"value": "问" * 19 + "…"}, "phrase3": {"value": "整改中"}}


def test_times_are_china_time():
    assert svc.format_time(NOW) == "2026-11-02 00:30"
    assert svc.format_time(None) == ""


def test_backoff_doubles_and_is_capped():
    assert svc.backoff_delay(1) == timedelta(minutes=1)
    assert svc.backoff_delay(2) == timedelta(minutes=2)
    assert svc.backoff_delay(4) == timedelta(minutes=8)
    assert svc.backoff_delay(30) == timedelta(hours=6)


# Recipients.


def test_office_users_need_the_office_grant_over_the_problem(app, town):
    same_office_no_openid = user_with_role(Role.OFFICE, town.village, office_code="nyfw")
    user_with_role(Role.OFFICE, town.town, office_code="mzb")
    user_with_role(Role.OFFICE, town.town, office_code="nyfw", is_active=False)
    # Office for nyfw far away and helper here: the helper grant must not make them a recipient.
    mixed = user_with_role(Role.OFFICE, town.far_village, office_code="nyfw")
    GrantFactory(user=mixed, role=Role.HELPER.value, region=town.village)
    user_with_role(Role.OFFICE, town.other_village, office_code="nyfw")

    users = office_users("nyfw", town.household.region_path)

    assert [u.id for u in users] == [town.office.id, same_office_no_openid.id]


def test_role_holders_cover_the_region(app, town):
    assert [u.id for u in role_holders(role=Role.VILLAGE_CADRE, region_path=town.group.path)] == [
        town.village_cadre.id
    ]
    assert role_holders(role=Role.VILLAGE_CADRE, region_path=town.other_group.path) == []
    assert [u.id for u in role_holders(role=Role.TOWN_ADMIN, region_path=town.group.path)] == [
        town.town_admin.id
    ]


@pytest.mark.parametrize(
    ("status", "who"),
    [
        ("reported", "village_cadre"),
        ("accepted", "village_cadre"),
        ("town_review", "town_admin"),
        ("assigned", "office"),
        ("rectifying", "office"),
        ("reopened", "office"),
    ],
)
def test_responsible_users_follow_the_state(app, town, status, who):
    problem = _problem(town, status="assigned")
    problem.status = status
    assert [u.id for u in svc.responsible_users(problem)] == [getattr(town, who).id]


# Enqueueing.


def _problem(town, *, status="assigned"):
    return make_problem(
        town.household,
        "饮水水质不达标",
        status=status,
        check_key="water_quality",
        dedup_key="check:water_quality",
    )


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Notification))


def test_enqueue_is_idempotent_by_dedup_key(app, town):
    problem = _problem(town, status="reported")
    kwargs = {
        "kind": NotificationKind.DEADLINE_SOON,
        "dedup_key": "test:1",
        "data": {"thing2": "x"},
        "page": "pages/problems/detail?id=1",
        "problem_id": problem.id,
        "recipient_openid": fake_openid("u1"),
    }
    row, created = svc.enqueue_notification(**kwargs)
    again, created_again = svc.enqueue_notification(**{**kwargs, "data": {"thing2": "y"}})
    assert created and not created_again
    assert again.id == row.id and again.data == {"thing2": {"value": "x"}}
    assert row.status == NotificationStatus.PENDING
    assert row.template_id == app.config["WECHAT_TEMPLATE_DEADLINE_SOON"]
    assert _count() == 1


def test_recipient_without_openid_is_recorded_not_sent(app, town):
    problem = _problem(town, status="reported")
    row, created = svc.enqueue_notification(
        kind=NotificationKind.OVERDUE,
        dedup_key="test:2",
        data={},
        page=None,
        problem_id=problem.id,
        recipient_user_id=town.office.id,
    )
    assert created and row.status == NotificationStatus.NO_RECIPIENT


def test_switched_off_template_queues_nothing(app, town, monkeypatch):
    problem = _problem(town, status="reported")
    monkeypatch.setitem(app.config, "WECHAT_TEMPLATE_OVERDUE", "")
    row, created = svc.enqueue_notification(
        kind=NotificationKind.OVERDUE,
        dedup_key="test:3",
        data={},
        page=None,
        problem_id=problem.id,
        recipient_openid=fake_openid("u3"),
    )
    assert (row, created) == (None, False)
    assert _count() == 0


def test_opening_an_assigned_problem_queues_office_assigned(app, town):
    town.office.wechat_openid = fake_openid("office")
    problem = _problem(town, status="assigned")
    rows = db.session.scalars(select(Notification)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.kind, row.recipient_user_id, row.status) == (
        NotificationKind.OFFICE_ASSIGNED,
        town.office.id,
        NotificationStatus.PENDING,
    )
    assert row.page == f"pages/problems/detail?id={problem.id}"
    assert row.data == {
        "character_string1": {"value": str(problem.id)},
        "thing2": {"value": "饮水水质不达标"},
        "thing3": {"value": "石桥村"},
        "time4": {"value": svc.format_time(problem.deadline_at)},
        "thing5": {"value": "请于期限前完成整改并上传整改照片"},
    }


def test_opening_a_reported_problem_queues_nothing(app, town):
    town.village_cadre.wechat_openid = fake_openid("cadre")
    _problem(town, status="reported")
    assert _count() == 0


# Sending one message, with a stub client.


class StubClient:
    """Answers every send with ``outcome`` (an exception to raise, or a msgid)."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.sent: list[tuple] = []

    def send_subscribe_message(self, touser, template_id, data, page=None, **kw):
        self.sent.append((touser, template_id, data, page, kw))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _pending(town):
    town.office.wechat_openid = fake_openid("office")
    _problem(town, status="assigned")
    return db.session.scalars(select(Notification)).one()


def test_success_marks_sent(app, town):
    row = _pending(town)
    client = StubClient(123)
    assert svc.send_notification(client=client, row=row, now=NOW) == "sent"
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, NOW, None)
    touser, template_id, data, page, kw = client.sent[0]
    assert (touser, template_id, page) == (row.recipient_openid, "tmpl-assigned", row.page)
    assert data == row.data and kw == {"miniprogram_state": "formal"}


def test_no_subscription_is_final(app, town):
    row = _pending(town)
    outcome = svc.send_notification(
        client=StubClient(WeChatError(43101, "user refuse to accept the msg")), row=row, now=NOW
    )
    assert outcome == "no_subscription"
    assert (row.status, row.attempts, row.last_errcode) == ("no_subscription", 1, 43101)


def test_invalid_template_is_not_retried(app, town):
    row = _pending(town)
    outcome = svc.send_notification(
        client=StubClient(WeChatError(40037, "invalid template_id")), row=row, now=NOW
    )
    assert outcome == "failed"
    assert (row.status, row.last_errcode) == ("failed", 40037)


@pytest.mark.parametrize(
    "error",
    [WeChatUnavailable("HTTP 502"), WeChatError(-1, "system error"), RuntimeError("bug")],
)
def test_transient_errors_back_off_then_give_up(app, town, monkeypatch, error):
    monkeypatch.setitem(app.config, "NOTIFY_MAX_ATTEMPTS", 3)
    row = _pending(town)
    client = StubClient(error)
    assert svc.send_notification(client=client, row=row, now=NOW) == "retried"
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        NOW + timedelta(minutes=1),
    )
    assert row.last_error
    assert svc.send_notification(client=client, row=row, now=NOW) == "retried"
    assert row.next_attempt_at == NOW + timedelta(minutes=2)
    assert svc.send_notification(client=client, row=row, now=NOW) == "failed"
    assert (row.status, row.attempts) == ("failed", 3)


def test_a_pass_stops_at_its_limit(app, town):
    town.office.wechat_openid = fake_openid("office")
    _problem(town, status="assigned")
    make_problem(town.household, "饮水水量不足")
    client = StubClient(1)
    due = datetime.now(UTC) + timedelta(seconds=1)

    first = svc.send_due_notifications(client=client, limit=1, now=due)
    second = svc.send_due_notifications(client=client, now=due)

    assert (first.sent, second.sent) == (1, 1)
    assert first.ids != second.ids and len(client.sent) == 2
