"""Audit log viewer (审计日志) for 镇纪委, the town office and the district."""

from __future__ import annotations

import json
from datetime import date

from flask import render_template, request

from backend.errors import DomainError
from backend.services import audit as audit_service
from backend.services.authz import require_role
from backend.web.blueprint import web
from backend.web.common import Pager, actor, int_arg, page_arg

PAGE_SIZE = 40
# The filter chips: action prefixes and what the town calls them.
ACTION_GROUPS = [
    ("", "全部"),
    ("pii.read", "查看个人信息"),
    ("auth.", "登录"),
    ("export.", "台账导出"),
    ("problem.transition", "问题流转"),
    ("visit.review", "走访审核"),
    ("spot_check.", "抽查核验"),
]
ACTION_LABELS = {
    "auth.login": "登录",
    "auth.login_failed": "登录失败",
    "auth.login_throttled": "登录被限制",
    "pii.read": "查看完整个人信息",
    "problem.transition": "问题流转",
    "visit.review": "走访审核",
    "spot_check.create": "抽取抽查样本",
    "spot_check.outcome": "记录抽查结果",
    "export.households": "导出农户台账",
    "export.problems": "导出问题台账",
    "export.visits": "导出走访台账",
    "export.coverage": "导出覆盖汇总",
    "routing_rule.create": "新增分派规则",
    "routing_rule.update": "修改分派规则",
}
TARGET_LABELS = {
    "household": "农户",
    "user": "用户",
    "problem": "问题",
    "visit": "走访",
    "export": "台账",
    "spot_check": "抽查",
    "spot_check_item": "抽查样本",
    "routing_rule": "分派规则",
    "report": "农户反映",
}
ACTORS_SHOWN = 300


def _date_arg(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            "request.validation", fields={"query": {name: ["日期格式有误，应为 YYYY-MM-DD。"]}}
        ) from None


@web.get("/audit")
def audit_page():
    """审计日志: personal-data reads, logins, transitions, exports, review decisions, filtered."""
    who = actor()
    require_role(who, audit_service.AUDIT_READ_ROLES)
    action = (request.args.get("action") or "").strip()[:200] or None
    target_type = (request.args.get("target_type") or "").strip()[:32] or None
    target_id = (request.args.get("target_id") or "").strip()[:64] or None
    actor_user_id = int_arg("actor_user_id")
    page = page_arg()
    rows, total = audit_service.list_events(
        actor=who,
        action=action,
        actor_user_id=actor_user_id,
        target_type=target_type,
        target_id=target_id,
        date_from=_date_arg("from"),
        date_to=_date_arg("to"),
        page=page,
        page_size=PAGE_SIZE,
    )
    for row in rows:
        row["action_label"] = ACTION_LABELS.get(row["action"], row["action"])
        row["target_label"] = TARGET_LABELS.get(row["target_type"] or "", row["target_type"])
        row["detail_text"] = (
            json.dumps(row["detail"], ensure_ascii=False, sort_keys=True) if row["detail"] else ""
        )
    return render_template(
        "web/audit.html",
        rows=rows,
        pager=Pager(page, PAGE_SIZE, total),
        groups=ACTION_GROUPS,
        action=action or "",
        actors=audit_service.list_event_actors(actor=who, limit=ACTORS_SHOWN),
        actor_user_id=actor_user_id,
        target_type=target_type or "",
        target_id=target_id or "",
        date_from=request.args.get("from", ""),
        date_to=request.args.get("to", ""),
    )
