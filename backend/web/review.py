"""Review queue (走访审核): flagged visits with their photos, earlier photos and a small map."""

from __future__ import annotations

from flask import flash, render_template, request, url_for

from backend.errors import DomainError
from backend.models import RegionLevel
from backend.services import review as review_service
from backend.services.regions import list_regions
from backend.web import charts
from backend.web.blueprint import web
from backend.web.common import (
    Pager,
    actor,
    flash_recoverable,
    int_arg,
    page_arg,
    redirect_back,
)

PAGE_SIZE = 8
STATUS_CHOICES = [
    ("unreviewed", "待审核"),
    ("invalid", "已判无效"),
    ("valid", "已判有效"),
    ("all", "全部"),
]
HELPERS_SHOWN = 10


@web.get("/review")
def review_queue():
    """走访审核: flagged visits to judge (unreviewed first), and anomaly counts per helper."""
    who = actor()
    status = request.args.get("status") or "unreviewed"
    if status not in review_service.QUEUE_STATUSES:
        raise DomainError(
            "request.validation", fields={"query": {"status": ["审核状态取值无效。"]}}
        )
    page = page_arg()
    village_id = int_arg("village_id")
    period = (request.args.get("period") or "").strip() or None
    queue = review_service.list_review_queue(
        actor=who,
        status=status,
        village_id=village_id,
        period=period,
        page=page,
        page_size=PAGE_SIZE,
    )
    anomalies = review_service.helper_anomalies(actor=who, period=period, village_id=village_id)
    items = []
    for item in queue.items:
        gps, home = item["gps"], item["household_location"]
        items.append(
            {
                **item,
                "minimap": charts.visit_minimap(
                    visit=(gps["lat"], gps["lon"]) if gps else None,
                    household=(home["lat"], home["lon"]) if home else None,
                    accuracy_m=gps["accuracy"] if gps else None,
                    distance_m=item["distance_m"],
                ),
            }
        )
    return render_template(
        "web/review.html",
        items=items,
        pager=Pager(page, PAGE_SIZE, queue.total),
        status=status,
        status_choices=STATUS_CHOICES,
        village_id=village_id,
        villages=list_regions(actor=who, level=RegionLevel.VILLAGE),
        can_decide=bool(who.roles & review_service.REVIEW_DECIDE_ROLES),
        anomalies=anomalies,
        anomaly_rows=[r for r in anomalies["rows"] if r["flagged"] or r["invalid"]][:HELPERS_SHOWN],
        back=request.full_path.rstrip("?"),
    )


@web.post("/review/<int:visit_id>")
def review_decide(visit_id: int):
    """Mark a visit valid or invalid (a note is required for invalid)."""
    who = actor()
    decision = request.form.get("status") or ""
    try:
        review_service.review_visit(
            actor=who, visit_id=visit_id, status=decision, note=request.form.get("note")
        )
    except DomainError as exc:
        flash_recoverable(exc)
        return redirect_back(url_for("web.review_queue"))
    verdict = "有效" if decision == "valid" else "无效"
    flash(f"走访 #{visit_id} 已判定为{verdict}。", "ok")
    return redirect_back(url_for("web.review_queue"))
