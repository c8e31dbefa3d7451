"""The deadline sweep: warn once before the deadline, escalate overdue problems, repeatedly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, Notification, NotificationKind, ProblemEvent
from backend.services.auth import actor_for_user
from backend.services.deadlines import sweep_deadlines
from backend.services.problem_queries import is_overdue
from backend.services.problems import transition_problem
from backend.wechat.fake_server import fake_openid
from tests.helpers import make_problem

NOW = datetime.now(UTC).replace(microsecond=0)


def _problem(town, *, status="assigned", deadline_in=timedelta(hours=24), source="visit_check"):
    problem = make_problem(
        town.household,
        "饮水水质不达标",
        status=status,
        source=source,
        check_key="water_quality",
        dedup_key="check:water_quality",
    )
    problem.deadline_at = NOW + deadline_in
    db.session.flush()
    return problem


def _rows(kind: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        )
    )


def _escalations(problem) -> list[ProblemEvent]:
    return list(
        db.session.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem.id, ProblemEvent.action == "escalated")
            .order_by(ProblemEvent.id)
        )
    )


def test_approaching_deadline_warns_the_office_once(app, town):
    town.office.wechat_openid = fake_openid("office")
    problem = _problem(town, deadline_in=timedelta(hours=24))

    report = sweep_deadlines(now=NOW)

    assert report.warned == [problem.id] and report.escalated == []
    assert problem.deadline_warned_at == NOW
    rows = _rows(NotificationKind.DEADLINE_SOON)
    assert [(r.recipient_user_id, r.status) for r in rows] == [(town.office.id, "pending")]
    assert rows[0].template_id == "tmpl-deadline"
    assert rows[0].data["phrase3"] == {"value": "已交办"}
    assert rows[0].data["thing5"] == {"value": "距办理期限不足24小时，请尽快处理"}
    assert rows[0].page == f"pages/problems/detail?id={problem.id}"

    again = sweep_deadlines(now=NOW + timedelta(hours=1))
    assert again.warned == [] and again.notifications == 0
    assert len(_rows(NotificationKind.DEADLINE_SOON)) == 1


def test_early_states_warn_the_village(app, town):
    problem = _problem(town, status="reported", source="villager_report")
    sweep_deadlines(now=NOW)
    rows = _rows(NotificationKind.DEADLINE_SOON)
    assert [(r.recipient_user_id, r.status) for r in rows] == [
        (town.village_cadre.id, "no_recipient")
    ]
    assert rows[0].data["phrase3"] == {"value": "已反映"}
    assert problem.deadline_warned_at == NOW


def test_far_deadline_is_left_alone(app, town):
    _problem(town, deadline_in=timedelta(days=10))
    report = sweep_deadlines(now=NOW)
    assert (report.warned, report.escalated, report.notifications) == ([], [], 0)


def test_overdue_escalates_to_office_and_town(app, town):
    town.office.wechat_openid = fake_openid("office")
    problem = _problem(town, deadline_in=-timedelta(hours=1))
    assert is_overdue(problem, NOW)

    report = sweep_deadlines(now=NOW)

    assert report.escalated == [problem.id] and report.warned == []
    assert (problem.escalation_level, problem.escalated_at) == (1, NOW)
    rows = _rows(NotificationKind.OVERDUE)
    assert [(r.recipient_user_id, r.status) for r in rows] == [
        (town.office.id, "pending"),
        (town.town_admin.id, "no_recipient"),
    ]
    assert rows[0].template_id == "tmpl-overdue"
    assert rows[0].data["thing5"] == {"value": "已超过办理期限，第1次督办"}
    assert _rows(NotificationKind.DEADLINE_SOON) == []
    events = _escalations(problem)
    assert len(events) == 1
    event = events[0]
    assert (event.actor_user_id, event.actor_role, event.actor_label) == (None, "system", "系统")
    assert (event.from_status, event.to_status) == ("assigned", "assigned")
    assert event.note == "已超过办理期限，第1次督办"
    assert event.data["level"] == 1 and event.data["office_code"] == "nyfw"
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "problem.escalated")).all()
    assert [(a.target_type, a.target_id, a.detail["level"]) for a in audit] == [
        ("problem", str(problem.id), 1)
    ]

    # Running again, even a day later, adds nothing.
    for later in (NOW, NOW + timedelta(days=1)):
        again = sweep_deadlines(now=later)
        assert (again.escalated, again.notifications) == ([], 0)
    assert problem.escalation_level == 1 and len(_rows(NotificationKind.OVERDUE)) == 2

    # After PROBLEM_ESCALATE_EVERY_DAYS it escalates again.
    every = timedelta(days=app.config["PROBLEM_ESCALATE_EVERY_DAYS"])
    third = sweep_deadlines(now=NOW + every)
    assert third.escalated == [problem.id] and third.notifications == 2
    assert (problem.escalation_level, problem.escalated_at) == (2, NOW + every)
    assert len(_escalations(problem)) == 2
    assert _rows(NotificationKind.OVERDUE)[-1].data["thing5"] == {
        "value": f"已逾期{every.days}天，第2次督办"
    }


def test_overdue_early_problem_goes_to_village_and_town(app, town):
    _problem(town, status="accepted", source="villager_report", deadline_in=-timedelta(days=1))
    sweep_deadlines(now=NOW)
    assert [r.recipient_user_id for r in _rows(NotificationKind.OVERDUE)] == [
        town.village_cadre.id,
        town.town_admin.id,
    ]


def test_rectified_problem_is_not_escalated(app, town):
    problem = _problem(town, deadline_in=-timedelta(days=2))
    problem.status = "rectified"
    assert not is_overdue(problem, NOW)
    report = sweep_deadlines(now=NOW)
    assert (report.escalated, problem.escalation_level) == ([], 0)


def test_new_deadline_restarts_the_clock(app, town):
    problem = _problem(town, deadline_in=-timedelta(hours=1))
    sweep_deadlines(now=NOW)
    assert problem.escalation_level == 1

    transition_problem(
        actor=actor_for_user(user=town.town_admin),
        problem=problem,
        action="reassign",
        office_code="nyfw",
        note="重新交办",
    )

    assert problem.escalation_level == 0 and problem.deadline_at > NOW + timedelta(days=20)
    assert sweep_deadlines(now=NOW).escalated == []


def test_cli_sweep_deadlines(app, town):
    problem = _problem(town, deadline_in=-timedelta(hours=3))
    soon = _problem_other(town)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["hhq", "sweep-deadlines"])

    assert result.exit_code == 0, result.output
    assert "即将到期提醒 1 个问题，逾期督办 1 个问题" in result.output
    db.session.refresh(problem)
    db.session.refresh(soon)
    assert problem.escalation_level == 1
    assert soon.deadline_warned_at is not None
    again = runner.invoke(args=["hhq", "sweep-deadlines"])
    assert "即将到期提醒 0 个问题，逾期督办 0 个问题，新增消息 0 条" in again.output


def test_cli_worker_once_sweeps_and_sends(app, town):
    town.office.wechat_openid = fake_openid("office")
    _problem(town, deadline_in=-timedelta(hours=3))

    result = app.test_cli_runner().invoke(args=["hhq", "worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "逾期督办 1 个问题" in result.output
    # The test app's WeChat address answers nothing: both messages wait for a retry.
    assert "已发送 0 条，用户未订阅 0 条，稍后重试 2 条，放弃 0 条。" in result.output


def _problem_other(town):
    problem = make_problem(town.other_household, "房屋安全等级待鉴定", area="housing")
    problem.deadline_at = datetime.now(UTC) + timedelta(hours=5)
    db.session.flush()
    return problem
