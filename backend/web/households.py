"""One household: its 户户清 status, visit timeline with photos and answers, and its problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from backend.extensions import db
from backend.models import Household, Photo, ReviewStatus, Visit
from backend.services import household_status as status_service
from backend.services import households as households_service
from backend.services import pii, problem_queries
from backend.services import visits as visits_service
from backend.services.authenticity import FLAG_TITLES
from backend.services.authz import can_see_pii
from backend.services.photos import photo_urls
from backend.services.review import REVIEW_STATUS_LABELS
from backend.services.survey.common import iter_questions
from backend.web.blueprint import web
from backend.web.common import actor, page_arg, period_arg

VISITS_PER_PAGE = 10
# Answers that are health facts: masked like the roster's health fields until revealed.
HEALTH_QUESTIONS = frozenset(
    {
        "hospitalized",
        "inpatient_self_pay_percent",
        "outpatient_treated",
        "outpatient_self_pay_percent",
    }
)
PHOTO_LABELS = {
    "house": "住房",
    "water": "水源",
    "with_head": "与户主合影",
    "evidence": "整改证据",
    "other": "其他",
}


@web.get("/households/<int:household_id>")
def household_page(household_id: int):
    """农户: personal data masked; a PII role may reveal it with an audited action."""
    return _render(household_id, unmask=False)


@web.route("/households/<int:household_id>/reveal", methods=["GET", "POST"])
def household_reveal(household_id: int):
    """显示完整信息: the same page unmasked, written to the audit log (``pii.read``)."""
    if request.method == "GET":
        # Links on the revealed page (pager, month) lead back to the masked page.
        return redirect(url_for("web.household_page", household_id=household_id, **request.args))
    return _render(household_id, unmask=True)


def _render(household_id: int, *, unmask: bool):
    who = actor()
    period = period_arg()
    detail = households_service.get_household(actor=who, household_id=household_id, unmask=unmask)
    household = db.session.get(Household, household_id)
    status = status_service.get_household_status(
        actor=who, household_id=household_id, period=period
    )
    page = page_arg()
    visits, total = visits_service.list_visits(
        actor=who, household_id=household_id, page=page, page_size=VISITS_PER_PAGE
    )
    problems, problems_total = problem_queries.list_problems(
        actor=who, household_id=household_id, page_size=100
    )
    return render_template(
        "web/household.html",
        period=period,
        detail=detail,
        status=status,
        visits=visit_timeline(visits, unmask=unmask),
        visits_total=total,
        page=page,
        pages=max(1, -(-total // VISITS_PER_PAGE)),
        problems=problems,
        problems_total=problems_total,
        can_reveal=can_see_pii(who, household) and not unmask,
        unmasked=unmask,
    )


def visit_timeline(visits: list[Visit], *, unmask: bool) -> list[dict[str, Any]]:
    """Visits as the timeline shows them: checks, answers by section, photos (signed links)."""
    if not visits:
        return []
    photos: dict[int, list[Photo]] = {}
    for photo in db.session.scalars(
        select(Photo).where(Photo.visit_id.in_([v.id for v in visits])).order_by(Photo.id)
    ):
        photos.setdefault(photo.visit_id, []).append(photo)
    items = []
    for visit in visits:
        members = {str(m.id): m.name for m in visit.household.members}
        items.append(
            {
                "visit": visit,
                "helper_name": visit.helper.display_name,
                "duration_minutes": round((visit.ended_at - visit.started_at).total_seconds() / 60),
                "flags": [FLAG_TITLES.get(f.get("code"), f.get("code")) for f in visit.flags or []],
                "review_label": REVIEW_STATUS_LABELS.get(visit.review_status, visit.review_status),
                "invalid": visit.review_status == ReviewStatus.INVALID,
                # Not passed first; in form order within each (the sort is stable).
                "checks": sorted(
                    (c for c in visit.check_results if c["applicable"]), key=lambda c: c["passed"]
                ),
                "failed": [c for c in visit.check_results if c["applicable"] and not c["passed"]],
                "sections": answer_sections(
                    visit.form_version.definition, visit.answers or {}, members, unmask=unmask
                ),
                "photos": [
                    {
                        "label": PHOTO_LABELS.get(p.purpose, p.purpose),
                        **{k: v for k, v in photo_urls(p).items() if k in ("thumb", "display")},
                    }
                    for p in photos.get(visit.id, [])
                ],
            }
        )
    return items


def answer_sections(
    definition: Mapping[str, Any],
    answers: Mapping[str, Any],
    members: Mapping[str, str],
    *,
    unmask: bool,
) -> list[dict[str, Any]]:
    """The answers of a visit as (section, [(question, text)]), in form order, photos left out."""
    sections: list[dict[str, Any]] = []
    for section, question in iter_questions(definition):
        key = question.get("key")
        if question.get("type") == "photo" or key not in answers:
            continue
        value = answers[key]
        if value is None or value == "" or value == {} or value == []:
            continue
        if key in HEALTH_QUESTIONS and not unmask:
            text = pii.MASKED_HEALTH
        else:
            text = format_answer(question, value, members)
        if not sections or sections[-1]["key"] != section.get("key"):
            sections.append({"key": section.get("key"), "label": section.get("label"), "rows": []})
        sections[-1]["rows"].append((question.get("label", key), text))
    return sections


def format_answer(question: Mapping[str, Any], value: Any, members: Mapping[str, str]) -> str:
    """One answer in words: options by label, yes/no, per-member answers with names."""
    if question.get("per_member") and isinstance(value, Mapping):
        return "；".join(
            f"{members.get(str(member_id), '成员' + str(member_id))}："
            f"{_scalar(question, member_value)}"
            for member_id, member_value in value.items()
        )
    return _scalar(question, value)


def _scalar(question: Mapping[str, Any], value: Any) -> str:
    labels = {
        o.get("value"): o.get("label", o.get("value"))
        for o in question.get("options") or []
        if isinstance(o, Mapping)
    }
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(labels.get(v, v)) for v in value) or "—"
    if isinstance(value, str) and value in labels:
        return str(labels[value])
    unit = question.get("unit")
    return f"{value}{unit}" if unit else str(value)
