"""Problem board (问题督办): filters, each problem's allowed transitions, and one problem's file."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, render_template, request, url_for
from sqlalchemy import select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Office, ProblemStatus, RegionLevel
from backend.services import photos as photos_service
from backend.services import problem_queries
from backend.services.problem_machine import OPEN_STATES, STATUS_LABELS, TRANSITIONS
from backend.services.regions import list_regions
from backend.web.blueprint import web
from backend.web.common import (
    Pager,
    actor,
    flash_recoverable,
    int_arg,
    page_arg,
    redirect_back,
)

PAGE_SIZE = 15
OPEN = "open"
# Evidence photos per transition: enough for before/after of a few spots.
MAX_EVIDENCE_PHOTOS = 9
STATUS_TONES = {
    ProblemStatus.REPORTED: "info",
    ProblemStatus.ACCEPTED: "info",
    ProblemStatus.TOWN_REVIEW: "info",
    ProblemStatus.ASSIGNED: "warn",
    ProblemStatus.RECTIFYING: "warn",
    ProblemStatus.REOPENED: "danger",
    ProblemStatus.RECTIFIED: "ok",
    ProblemStatus.VERIFIED: "ok",
    ProblemStatus.CLOSED: "done",
    ProblemStatus.REJECTED: "done",
    ProblemStatus.MERGED: "done",
}


def _filters() -> dict[str, Any]:
    raw_status = (request.args.get("status") or OPEN).strip()
    if raw_status == OPEN:
        statuses = sorted(OPEN_STATES)
    elif raw_status == "all":
        statuses = []
    elif raw_status in ProblemStatus.ALL:
        statuses = [raw_status]
    else:
        raise DomainError(
            "request.validation", fields={"query": {"status": ["问题状态取值无效。"]}}
        )
    overdue = request.args.get("overdue") in ("1", "true", "on")
    return {
        "status_choice": raw_status,
        "status": statuses,
        "office": (request.args.get("office") or "").strip()[:32] or None,
        "area": (request.args.get("area") or "").strip()[:32] or None,
        "village_id": int_arg("village_id"),
        "overdue": True if overdue else None,
        "q": (request.args.get("q") or "").strip()[:64] or None,
    }


@web.get("/problems")
def problem_board():
    """问题督办: the problems of the person's scope, filtered, with what they may do next."""
    who = actor()
    filters = _filters()
    page = page_arg()
    items, total = problem_queries.list_problems(
        actor=who,
        status=filters["status"],
        office=filters["office"],
        area=filters["area"],
        village_id=filters["village_id"],
        overdue=filters["overdue"],
        q=filters["q"],
        page=page,
        page_size=PAGE_SIZE,
    )
    return render_template(
        "web/problems.html",
        items=items,
        pager=Pager(page, PAGE_SIZE, total),
        filters=filters,
        statuses=[(s, STATUS_LABELS[s]) for s in ProblemStatus.ALL],
        offices=_offices(),
        areas=problem_queries.list_problem_areas(actor=who),
        villages=list_regions(actor=who, level=RegionLevel.VILLAGE),
        transitions=TRANSITIONS,
        tones=STATUS_TONES,
        back=request.full_path.rstrip("?"),
    )


@web.get("/problems/<int:problem_id>")
def problem_page(problem_id: int):
    """One problem: its file, timeline with evidence photos, and the next steps."""
    who = actor()
    detail = problem_queries.get_problem(actor=who, problem_id=problem_id)
    siblings = []
    if "merge" in detail["allowed_actions"]:
        others, _ = problem_queries.list_problems(
            actor=who,
            household_id=detail["household_id"],
            status=sorted(OPEN_STATES),
            page_size=50,
        )
        siblings = [p for p in others if p["id"] != problem_id]
    return render_template(
        "web/problem.html",
        p=detail,
        siblings=siblings,
        offices=_offices(),
        transitions=TRANSITIONS,
        tones=STATUS_TONES,
        back=request.full_path.rstrip("?"),
    )


@web.post("/problems/<int:problem_id>/transitions")
def problem_transition(problem_id: int):
    """Make one transition from a board or problem form; evidence photos go through the
    photo pipeline first (purpose ``evidence``)."""
    who = actor()
    action = (request.form.get("action") or "").strip()
    back = url_for("web.problem_page", problem_id=problem_id)
    problem = problem_queries.load_problem_for(actor=who, problem_id=problem_id)
    try:
        photo_ids = _upload_evidence(who, problem.household_id)
        problem_queries.transition_problem_for(
            actor=who,
            problem_id=problem_id,
            action=action,
            note=request.form.get("note") or "",
            photo_ids=photo_ids,
            office_code=(request.form.get("office_code") or "").strip() or None,
            target_problem_id=_optional_int(request.form.get("target_problem_id")),
        )
    except DomainError as exc:
        flash_recoverable(exc)
        return redirect_back(back)
    label = TRANSITIONS[action].label if action in TRANSITIONS else action
    flash(f"问题 #{problem_id} 已办理：{label}。", "ok")
    return redirect_back(back)


def _upload_evidence(who, household_id: int) -> list[int]:
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > MAX_EVIDENCE_PHOTOS:
        raise DomainError(
            "problem.transition_invalid",
            fields={"form": {"photos": [f"一次最多上传{MAX_EVIDENCE_PHOTOS}张照片。"]}},
        )
    ids = []
    for upload in files:
        photo, _created = photos_service.upload_photo(
            actor=who,
            stream=upload.stream,
            filename=upload.filename,
            client_uuid=str(uuid.uuid4()),
            purpose="evidence",
            household_id=household_id,
        )
        db.session.flush()
        ids.append(photo.id)
    return ids


def _optional_int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _offices() -> list[tuple[str, str]]:
    return list(db.session.execute(select(Office.code, Office.name).order_by(Office.code)).all())
