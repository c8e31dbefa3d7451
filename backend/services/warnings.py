"""Early warning (返贫监测预警): flag households at risk, and the town's review of them (研判).

A household is flagged when a visit records per-person income below ``INCOME_MONITORING_LINE``,
sudden severe hardship (serious illness, accident, disaster) or an overdue microloan, or when a
villager's report in the basic-living area (or with no area) describes sudden hardship. A
household carries at most one pending flag per reason: later evidence is appended to the
pending flag's ``detail["evidence"]`` instead of opening another. A household that is already
monitored (监测对象) is not flagged again; evidence still reaches a flag already pending.

Flags are raised in the transaction of what triggered them (the visit, the report). The town
admin or the district confirms a flag, which makes the household a monitored household of the
kind chosen, or dismisses it with a reason; the inspector reads the queue. Every decision is
kept on the flag and in the audit log, so a household's history shows every flag and its fate.

Other modules call :func:`flag_household` (any trigger) or :func:`flag_report_hardship` (a
villager's report, after it has been flushed), and visits call :func:`evaluate_visit`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, selectinload

from backend import jsonfast
from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    HouseholdCategory,
    MonitorType,
    PovertyStatus,
    Report,
    Role,
    User,
    Visit,
    WarningFlag,
    WarningReason,
    WarningStatus,
    utcnow,
)
from backend.models.household import MONITOR_TYPE_LABELS
from backend.services import pii
from backend.services.audit import record_event
from backend.services.authz import (
    ADMIN_ROLES,
    Actor,
    can_read_household,
    can_see_pii,
    household_scope,
    load_household_for,
    require_role,
)
from backend.services.households import household_summary, record_pii_read
from backend.services.refs import user_ref

READ_ROLES = ADMIN_ROLES | {Role.INSPECTOR}
DECIDE_ROLES = ADMIN_ROLES

REASON_LABELS = {
    WarningReason.INCOME_BELOW_LINE: "人均纯收入低于监测线",
    WarningReason.SUDDEN_HARDSHIP: "突发严重困难",
    WarningReason.MICROLOAN_OVERDUE: "小额信贷逾期",
}
STATUS_LABELS = {
    WarningStatus.PENDING: "待研判",
    WarningStatus.CONFIRMED: "已纳入监测",
    WarningStatus.DISMISSED: "不予纳入",
}
STATUSES = (WarningStatus.PENDING, WarningStatus.CONFIRMED, WarningStatus.DISMISSED)
SOURCE_VISIT = "visit"
SOURCE_REPORT = "report"
SOURCE_SCREENING = "screening"
SOURCE_LABELS = {SOURCE_VISIT: "走访", SOURCE_REPORT: "农户反映", SOURCE_SCREENING: "筛查比对"}
HARDSHIP_LABELS = {
    "serious_illness": "重大疾病",
    "accident": "意外事故",
    "disaster": "自然灾害",
    "other": "其他",
}
# Villagers' reports in these areas are read for sudden hardship; "other" is where a villager
# lands who picked no area.
HARDSHIP_REPORT_AREAS = frozenset({"basic_living", "other"})
# Words of a villager's text that speak of sudden severe hardship.
HARDSHIP_WORDS = re.compile(
    r"大病|重病|重大疾病|癌|白血病|尿毒症|住院|意外|事故|车祸|受伤|工伤|摔伤|烧伤|"
    r"灾|洪水|泥石流|滑坡|塌方|地震|冰雹|房屋倒塌|去世|病故|身故"
)
# Evidence that tells health facts: masked like other health data unless unmasked and audited.
_HEALTH_FACTS = ("hardship_types",)


# --------------------------------------------------------------------------------------------
# Raising flags


def flag_household(
    *,
    household: Household,
    reason: str,
    source: str,
    facts: dict[str, Any] | None = None,
    text: str | None = None,
    visit_id: int | None = None,
    report_id: int | None = None,
    known_pending: dict[tuple[int, str], WarningFlag] | None = None,
) -> tuple[WarningFlag | None, bool]:
    """Flag ``household`` for ``reason`` or add evidence to its pending flag; True if new.

    Returns (None, False) for a monitored household with no pending flag of that reason.
    ``facts`` are the figures that triggered it (income and line, hardship kinds…), ``text``
    a person's words (a remark, a report); both are kept as one evidence entry.
    ``known_pending``: the pending flags already read and locked (``pending_flags``) by a
    caller flagging many households; a flag created here is added to it.
    """
    if reason not in WarningReason.ALL:
        raise ValueError(f"unknown warning reason {reason!r}")
    evidence = _evidence(
        source=source, facts=facts, text=text, visit_id=visit_id, report_id=report_id
    )
    key = (household.id, reason)
    if known_pending is None:
        pending = _pending_flag(household.id, reason)
    else:
        pending = known_pending.get(key)
    if pending is None and household.is_monitored:
        return None, False
    if pending is None:
        flag = WarningFlag(
            household_id=household.id,
            region_path=household.region_path,
            reason=reason,
            source=source,
            source_visit_id=visit_id,
            source_report_id=report_id,
            detail={"evidence": [evidence]},
            status=WarningStatus.PENDING,
            decision_note="",
            created_at=utcnow(),
        )
        # Two submissions may flag the same household at once; the partial unique index
        # decides, and the loser appends its evidence to the winner's flag.
        try:
            with db.session.begin_nested():
                db.session.add(flag)
                db.session.flush()
            if known_pending is not None:
                known_pending[key] = flag
            return flag, True
        except IntegrityError:
            pending = _pending_flag(household.id, reason)
            if pending is None:
                raise
    pending.detail = _with_evidence(pending.detail, evidence)
    db.session.flush()
    return pending, False


def append_flag_evidence(entries: list[tuple[WarningFlag, dict[str, Any]]]) -> None:
    """Append one evidence entry to each of several stored flags, in one statement.

    The database appends (``_with_evidence``'s rule: the first entry and the latest ones are
    kept), so a flag's detail, up to ``MAX_EVIDENCE`` entries, is never read into Python nor
    written back whole: a household visited every week would otherwise cost a read and a
    write of twenty entries a visit. At most one entry per flag.
    """
    if not entries:
        return
    dialect = db.session.get_bind().dialect.name
    rows = [{"id": flag.id, "evidence": evidence} for flag, evidence in entries]
    db.session.execute(
        _APPEND_EVIDENCE[dialect],
        {"rows": jsonfast.json_param(rows, dialect=dialect), "max": MAX_EVIDENCE},
    )
    for flag, _evidence_entry in entries:
        # A loaded detail is stale now: a later read goes to the row.
        db.session.expire(flag, ["detail"])


# Evidence appended to many flags from one JSON parameter (see append_flag_evidence). A full
# list drops its second entry, so that the first (what raised the flag) and the latest stay.
_APPEND_EVIDENCE = {
    "postgresql": sql_text(
        """
        UPDATE warning_flags AS w SET detail = (
            SELECT (
                COALESCE(w.detail::jsonb, '{}'::jsonb) || jsonb_build_object(
                    'evidence',
                    CASE WHEN jsonb_array_length(old.evidence) >= :max
                        THEN old.evidence - 1 ELSE old.evidence END
                    || jsonb_build_array(r.evidence),
                    'evidence_count',
                    COALESCE((w.detail ->> 'evidence_count')::integer,
                             jsonb_array_length(old.evidence)) + 1
                )
            )::json
            FROM (SELECT COALESCE(w.detail::jsonb -> 'evidence', '[]'::jsonb) AS evidence) AS old
        )
        FROM json_to_recordset(CAST(:rows AS json)) AS r(id integer, evidence jsonb)
        WHERE w.id = r.id
        """
    ),
    "sqlite": sql_text(
        """
        UPDATE warning_flags SET detail = (
            SELECT json_set(
                COALESCE(warning_flags.detail, '{}'),
                '$.evidence', json_insert(
                    CASE WHEN json_array_length(old.evidence) >= :max
                        THEN json_remove(old.evidence, '$[1]') ELSE old.evidence END,
                    '$[#]', json(json_extract(e.value, '$.evidence'))
                ),
                '$.evidence_count',
                COALESCE(json_extract(warning_flags.detail, '$.evidence_count'),
                         json_array_length(old.evidence)) + 1
            )
            FROM json_each(:rows) AS e,
                (SELECT COALESCE(json_extract(warning_flags.detail, '$.evidence'), '[]')
                    AS evidence) AS old
            WHERE json_extract(e.value, '$.id') = warning_flags.id
        )
        WHERE id IN (SELECT json_extract(e.value, '$.id') FROM json_each(:rows) AS e)
        """
    ),
}


def _evidence(
    *,
    source: str,
    facts: dict[str, Any] | None,
    text: str | None,
    visit_id: int | None = None,
    report_id: int | None = None,
) -> dict[str, Any]:
    # One evidence entry: the figures that triggered a flag and a person's words.
    return {
        "at": utcnow().isoformat(),
        "source": source,
        "visit_id": visit_id,
        "report_id": report_id,
        "facts": facts or {},
        "text": (text or "").strip() or None,
    }


# A pending flag keeps the entry that raised it and the latest ones: a household visited
# weekly for a year must not grow one JSON document without bound.
MAX_EVIDENCE = 20


def _with_evidence(detail: dict[str, Any], evidence: dict[str, Any]) -> dict[str, Any]:
    entries = [*detail.get("evidence", []), evidence]
    count = detail.get("evidence_count", len(entries) - 1) + 1
    if len(entries) > MAX_EVIDENCE:
        entries = [entries[0], *entries[-(MAX_EVIDENCE - 1) :]]
    return {**detail, "evidence": entries, "evidence_count": count}


# Built once: visit ingest runs it for every flag a visit raises.
_PENDING_FLAG_QUERY = (
    select(WarningFlag)
    .where(
        WarningFlag.household_id == bindparam("household_id"),
        WarningFlag.reason == bindparam("reason"),
        WarningFlag.status == WarningStatus.PENDING,
    )
    .with_for_update()
)


def _pending_flag(household_id: int, reason: str) -> WarningFlag | None:
    return db.session.scalar(_PENDING_FLAG_QUERY, {"household_id": household_id, "reason": reason})


# Every pending flag of some households, locked in id order (one order for every batch).
_PENDING_FLAGS_QUERY = (
    select(WarningFlag)
    .where(
        WarningFlag.household_id.in_(bindparam("household_ids", expanding=True)),
        WarningFlag.status == WarningStatus.PENDING,
    )
    .order_by(WarningFlag.id)
    .with_for_update()
    # Evidence is appended in the database (append_flag_evidence): the detail is not read.
    .options(defer(WarningFlag.detail))
    # What the database holds now, even for a flag already in the session (a batch whose
    # savepoint was rolled back may have changed it).
    .execution_options(populate_existing=True)
)


def pending_flags(household_ids: list[int]) -> dict[tuple[int, str], WarningFlag]:
    """The pending flags of ``household_ids`` by (household, reason), locked for update."""
    if not household_ids:
        return {}
    flags = db.session.scalars(_PENDING_FLAGS_QUERY, {"household_ids": sorted(household_ids)})
    return {(flag.household_id, flag.reason): flag for flag in flags}


def evaluate_visit(*, visit: Visit, household: Household) -> list[WarningFlag]:
    """Flag what the visit's answers show: low income, sudden hardship, an overdue microloan.

    Reads the answer keys of the default survey; a survey version without them flags nothing.
    """
    return evaluate_visits(entries=[(visit, household)])


def evaluate_visits(*, entries: list[tuple[Visit, Household]]) -> list[WarningFlag]:
    """``evaluate_visit`` for many visits, at most one per household: one read of the flags."""
    wanted = [
        (visit, household, reason, facts, text)
        for visit, household in entries
        for reason, facts, text in _visit_warnings(visit.answers or {})
    ]
    if not wanted:
        return []
    known = pending_flags(list({household.id for _v, household, *_rest in wanted}))
    raised = []
    appended: list[tuple[WarningFlag, dict[str, Any]]] = []
    for visit, household, reason, facts, text in wanted:
        pending = known.get((household.id, reason))
        if pending is not None:
            evidence = _evidence(
                source=SOURCE_VISIT, facts=facts, text=text, visit_id=visit.id, report_id=None
            )
            appended.append((pending, evidence))
            raised.append(pending)
            continue
        flag, _new = flag_household(
            household=household,
            reason=reason,
            source=SOURCE_VISIT,
            facts=facts,
            text=text,
            visit_id=visit.id,
            known_pending=known,
        )
        if flag is not None:
            raised.append(flag)
    append_flag_evidence(appended)
    return raised


def _visit_warnings(answers: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    flags: list[tuple[str, dict[str, Any], str | None]] = []
    line = float(current_app.config["INCOME_MONITORING_LINE"])
    income = answers.get("income_per_capita")
    if isinstance(income, int | float) and not isinstance(income, bool) and income < line:
        flags.append(
            (WarningReason.INCOME_BELOW_LINE, {"income_per_capita": income, "line": line}, None)
        )
    if answers.get("hardship") is True:
        facts = {
            "hardship_types": list(answers.get("hardship_types") or []),
            "hardship_date": answers.get("hardship_date"),
            "temporary_relief": answers.get("temporary_relief"),
        }
        flags.append((WarningReason.SUDDEN_HARDSHIP, facts, answers.get("remarks")))
    if answers.get("microloan_overdue") is True:
        facts = {"microloan_amount": answers.get("microloan_amount")}
        flags.append((WarningReason.MICROLOAN_OVERDUE, facts, None))
    return flags


def hardship_words(text: str | None) -> list[str]:
    """The words of ``text`` that speak of sudden severe hardship, in order, without repeats."""
    return list(dict.fromkeys(HARDSHIP_WORDS.findall(text or "")))


def flag_report_hardship(*, report: Report) -> WarningFlag | None:
    """Flag the household of a villager's report that describes sudden hardship, if it does."""
    words = hardship_words(report.description)
    if report.area not in HARDSHIP_REPORT_AREAS or not words:
        return None
    household = db.session.get(Household, report.household_id)
    flag, _new = flag_household(
        household=household,
        reason=WarningReason.SUDDEN_HARDSHIP,
        source=SOURCE_REPORT,
        facts={"words": words, "receipt_code": report.receipt_code},
        text=report.description,
        report_id=report.id,
    )
    return flag


# --------------------------------------------------------------------------------------------
# The review queue


def list_warnings(
    *,
    actor: Actor,
    status: str | None = WarningStatus.PENDING,
    reason: str | None = None,
    village_id: int | None = None,
    household_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    """Flags of households in the actor's scope, oldest first; evidence masked."""
    require_role(actor, READ_ROLES)
    query = (
        select(WarningFlag)
        .join(Household, Household.id == WarningFlag.household_id)
        .where(household_scope(actor, READ_ROLES))
    )
    if status:
        query = query.where(WarningFlag.status == status)
    if reason:
        query = query.where(WarningFlag.reason == reason)
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    if household_id is not None:
        query = query.where(WarningFlag.household_id == household_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    flags = db.session.scalars(
        query.options(
            selectinload(WarningFlag.household).selectinload(Household.region),
            selectinload(WarningFlag.household).selectinload(Household.village),
        )
        .order_by(WarningFlag.created_at, WarningFlag.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    deciders = _deciders(flags)
    items = [warning_view(f, decider=deciders.get(f.decided_by_id)) for f in flags]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def household_warnings(*, actor: Actor, household_id: int, unmask: bool = False) -> dict[str, Any]:
    """Every flag of one household with its decision, newest first; ``unmask`` is audited."""
    require_role(actor, READ_ROLES)
    household = load_household_for(actor, household_id, READ_ROLES)
    if unmask and not can_see_pii(actor, household):
        raise DomainError("auth.forbidden", "您的角色不能查看完整的个人信息。")
    if unmask:
        record_pii_read(actor=actor, household=household, via="warnings", fields=("health",))
    flags = db.session.scalars(
        select(WarningFlag)
        .where(WarningFlag.household_id == household.id)
        .order_by(WarningFlag.created_at.desc(), WarningFlag.id.desc())
    ).all()
    deciders = _deciders(flags)
    return {
        "household": household_summary(household),
        "items": [
            warning_view(f, decider=deciders.get(f.decided_by_id), unmask=unmask) for f in flags
        ],
        "unmasked": unmask,
    }


def confirm_warning(
    *, actor: Actor, warning_id: int, monitor_type: str, note: str | None = None
) -> dict[str, Any]:
    """Make the household a monitored household (监测对象) of ``monitor_type``; audited."""
    flag, household = _load_for_decision(actor, warning_id)
    problem = monitor_type_problem(household, monitor_type)
    if problem:
        raise DomainError(
            "warning.monitor_type_invalid",
            problem,
            details={"suggested": suggested_monitor_type(household, flag.reason)},
        )
    old = {
        "category": household.category,
        "is_monitored": household.is_monitored,
        "monitor_type": household.monitor_type,
    }
    household.is_monitored = True
    household.monitor_type = monitor_type
    # An ordinary household that becomes monitored changes category; registered poor, 低保,
    # 特困 and disabled households keep theirs and carry the monitored flag beside it.
    if household.category == HouseholdCategory.ORDINARY:
        household.category = HouseholdCategory.MONITORED.value
    _decide(actor, flag, WarningStatus.CONFIRMED, note or "", monitor_type=monitor_type)
    record_event(
        actor=actor,
        action="warning.confirmed",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={
            "warning_id": flag.id,
            "reason": flag.reason,
            "note": note or None,
            "old": old,
            "new": {
                "category": household.category,
                "is_monitored": True,
                "monitor_type": monitor_type,
            },
        },
    )
    return warning_view(flag, decider=db.session.get(User, actor.user_id))


def dismiss_warning(*, actor: Actor, warning_id: int, reason: str) -> dict[str, Any]:
    """Dismiss a flag; the reason is required and kept with the flag and in the audit log."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "request.validation", fields={"json": {"reason": ["请填写不予纳入监测的理由。"]}}
        )
    flag, household = _load_for_decision(actor, warning_id)
    _decide(actor, flag, WarningStatus.DISMISSED, reason)
    record_event(
        actor=actor,
        action="warning.dismissed",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={"warning_id": flag.id, "reason": flag.reason, "note": reason},
    )
    return warning_view(flag, decider=db.session.get(User, actor.user_id))


def monitor_type_problem(household: Household, monitor_type: str) -> str | None:
    """Why ``monitor_type`` does not fit ``household`` (Chinese), or None when it does.

    脱贫不稳定户 are registered poor households already lifted out; the other two kinds are
    households outside the registered poor; a registered household not yet lifted out is still
    helped as a poor household and is not a monitored one.
    """
    if monitor_type not in {m.value for m in MonitorType}:
        return "监测对象类型无效。"
    if household.category != HouseholdCategory.REGISTERED_POOR:
        if monitor_type == MonitorType.UNSTABLE:
            return (
                "脱贫不稳定户仅适用于已脱贫的建档立卡贫困户，请选择边缘易致贫户或突发严重困难户。"
            )
        return None
    if household.poverty_status == PovertyStatus.NOT_LIFTED:
        return "该户为未脱贫的建档立卡贫困户，仍按贫困户帮扶，不纳入监测对象；请选择不予纳入并说明理由。"
    if monitor_type != MonitorType.UNSTABLE:
        return "已脱贫的建档立卡贫困户应纳入为脱贫不稳定户。"
    return None


def suggested_monitor_type(household: Household, reason: str) -> str | None:
    """The monitored-household kind that fits the household and the flag's reason."""
    if household.category == HouseholdCategory.REGISTERED_POOR:
        lifted = household.poverty_status != PovertyStatus.NOT_LIFTED
        return MonitorType.UNSTABLE.value if lifted else None
    if reason == WarningReason.SUDDEN_HARDSHIP:
        return MonitorType.SUDDEN_HARDSHIP.value
    return MonitorType.EDGE.value


def _load_for_decision(actor: Actor, warning_id: int) -> tuple[WarningFlag, Household]:
    require_role(actor, READ_ROLES)
    # Row lock: two reviewers deciding at once must not both see the flag pending.
    flag = db.session.scalar(
        select(WarningFlag).where(WarningFlag.id == warning_id).with_for_update()
    )
    household = db.session.get(Household, flag.household_id) if flag is not None else None
    if household is None or not can_read_household(actor, household, READ_ROLES):
        raise DomainError("warning.not_found")
    if not can_read_household(actor, household, DECIDE_ROLES):
        raise DomainError("auth.forbidden", "只有镇扶贫办和区扶贫办可以研判预警。")
    if flag.status != WarningStatus.PENDING:
        raise DomainError(
            "warning.already_decided",
            details={
                "status": flag.status,
                "status_label": STATUS_LABELS.get(flag.status, flag.status),
                "decided_at": flag.decided_at.isoformat() if flag.decided_at else None,
            },
        )
    return flag, household


def _decide(
    actor: Actor, flag: WarningFlag, status: str, note: str, *, monitor_type: str | None = None
) -> None:
    flag.status = status
    flag.monitor_type = monitor_type
    flag.decision_note = note
    flag.decided_by_id = actor.user_id
    flag.decided_at = utcnow()
    db.session.flush()


def _deciders(flags: list[WarningFlag]) -> dict[int, User]:
    ids = {f.decided_by_id for f in flags if f.decided_by_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


# --------------------------------------------------------------------------------------------
# Views


def warning_view(
    flag: WarningFlag, *, decider: User | None = None, unmask: bool = False
) -> dict[str, Any]:
    """A flag with its (masked) household, evidence, summary and decision."""
    household = flag.household
    evidence = [_evidence_view(e, unmask) for e in (flag.detail or {}).get("evidence", [])]
    return {
        "id": flag.id,
        "household": household_summary(household),
        "reason": flag.reason,
        "reason_label": REASON_LABELS.get(flag.reason, flag.reason),
        "source": flag.source,
        "source_label": SOURCE_LABELS.get(flag.source, flag.source),
        "summary": _summary(flag, evidence, unmask),
        "evidence": evidence,
        "status": flag.status,
        "status_label": STATUS_LABELS.get(flag.status, flag.status),
        "suggested_monitor_type": suggested_monitor_type(household, flag.reason),
        "monitor_type": flag.monitor_type,
        "monitor_type_label": _monitor_label(flag.monitor_type),
        "decision_note": flag.decision_note or "",
        "decided_by": user_ref(decider),
        "decided_at": flag.decided_at,
        "created_at": flag.created_at,
    }


def _monitor_label(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return MONITOR_TYPE_LABELS[MonitorType(value)]
    except ValueError:
        return value


def _evidence_view(entry: dict[str, Any], unmask: bool) -> dict[str, Any]:
    facts = dict(entry.get("facts") or {})
    text = entry.get("text")
    if not unmask:
        for key in _HEALTH_FACTS:
            if facts.get(key):
                facts[key] = pii.mask_health("x")
        # A remark or a villager's words may tell an illness: masked like health facts.
        text = pii.mask_health(text)
        facts.pop("words", None)
    return {
        "at": entry.get("at"),
        "source": entry.get("source"),
        "source_label": SOURCE_LABELS.get(entry.get("source") or "", entry.get("source")),
        "visit_id": entry.get("visit_id"),
        "report_id": entry.get("report_id"),
        "facts": facts,
        "text": text,
    }


def _summary(flag: WarningFlag, evidence: list[dict[str, Any]], unmask: bool) -> str:
    latest = evidence[-1]["facts"] if evidence else {}
    count = (flag.detail or {}).get("evidence_count", len(evidence))
    times = f"（共 {count} 次记录）" if count > 1 else ""
    if flag.reason == WarningReason.INCOME_BELOW_LINE and "income_per_capita" in latest:
        return (
            f"人均纯收入 {latest['income_per_capita']:g} 元，"
            f"低于监测线 {latest.get('line', 0):g} 元{times}"
        )
    if flag.reason == WarningReason.SUDDEN_HARDSHIP:
        kinds = latest.get("hardship_types")
        if unmask and isinstance(kinds, list) and kinds:
            named = "、".join(HARDSHIP_LABELS.get(k, k) for k in kinds)
            return f"遭遇突发严重困难：{named}{times}"
        return f"遭遇突发严重困难{times}"
    if flag.reason == WarningReason.MICROLOAN_OVERDUE:
        return f"扶贫小额信贷逾期未还款{times}"
    return REASON_LABELS.get(flag.reason, flag.reason) + times
