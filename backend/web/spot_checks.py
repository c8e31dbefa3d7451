"""Spot-checks (抽查核验): draw the month's sample, record what each sampled visit turned out."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Region, RegionLevel, SpotCheckOutcome
from backend.services import spot_checks as spot_check_service
from backend.services.clock import china_today
from backend.web.blueprint import web
from backend.web.common import (
    Pager,
    actor,
    flash_recoverable,
    page_arg,
    redirect_back,
)

PAGE_SIZE = 24


def _towns(who) -> list[Region]:
    """The towns the person may draw samples for (their grants' regions at town level)."""
    towns = []
    for grant in who.grants:
        if grant.role in spot_check_service.CREATE_ROLES:
            region = db.session.get(Region, grant.region_id)
            if region is not None and region.level == RegionLevel.TOWN and region not in towns:
                towns.append(region)
    return towns


@web.get("/spot-checks")
def spot_checks():
    """The spot-checks of the person's scope, newest month first, and the form to draw one."""
    who = actor()
    page = page_arg()
    listing = spot_check_service.list_spot_checks(actor=who, page=page, page_size=PAGE_SIZE)
    return render_template(
        "web/spot_checks.html",
        items=listing.items,
        pager=Pager(page, PAGE_SIZE, listing.total),
        towns=_towns(who) if who.roles & spot_check_service.CREATE_ROLES else [],
        this_month=china_today().strftime("%Y-%m"),
        default_share=round(current_app.config["SPOT_CHECK_SHARE"] * 100, 2),
    )


@web.post("/spot-checks")
def spot_check_create():
    """Draw and store a month's stratified sample for a town."""
    who = actor()
    try:
        region_id = _int_field("region_id", "请选择镇。")
        share = _share()
        detail = spot_check_service.create_spot_check(
            actor=who,
            period=(request.form.get("period") or "").strip(),
            region_id=region_id,
            share=share,
        )
    except DomainError as exc:
        flash_recoverable(exc)
        if exc.code == "spot_check.exists":
            return redirect(
                url_for("web.spot_check_page", spot_check_id=exc.details["spot_check_id"]),
                code=303,
            )
        return redirect(url_for("web.spot_checks"), code=303)
    flash(
        f"已抽取 {detail['period']} 的样本：{detail['sample_size']} 次走访"
        f"（共 {detail['population_size']} 次）。",
        "ok",
    )
    return redirect(url_for("web.spot_check_page", spot_check_id=detail["id"]), code=303)


def _int_field(name: str, message: str) -> int:
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 12:
        raise DomainError("request.validation", fields={"form": {name: [message]}})
    return int(raw)


def _share() -> float | None:
    raw = (request.form.get("share_pct") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise DomainError(
            "request.validation", fields={"form": {"share_pct": ["抽查比例应大于0且不超过100%。"]}}
        )
    return value / 100


@web.get("/spot-checks/<int:spot_check_id>")
def spot_check_page(spot_check_id: int):
    """One spot-check: its strata, its sampled visits and their outcomes."""
    who = actor()
    detail = spot_check_service.get_spot_check(actor=who, spot_check_id=spot_check_id)
    return render_template(
        "web/spot_check.html",
        s=detail,
        outcomes=[
            (o, spot_check_service.OUTCOME_LABELS[o]) for o in spot_check_service.DECIDED_OUTCOMES
        ],
        pending=SpotCheckOutcome.PENDING,
        can_record=bool(who.roles & spot_check_service.OUTCOME_ROLES),
        back=request.full_path.rstrip("?"),
    )


@web.post("/spot-checks/<int:spot_check_id>/items/<int:item_id>")
def spot_check_outcome(spot_check_id: int, item_id: int):
    """Record what 镇纪委 found for one sampled visit."""
    who = actor()
    back = url_for("web.spot_check_page", spot_check_id=spot_check_id)
    try:
        item = spot_check_service.record_outcome(
            actor=who,
            spot_check_id=spot_check_id,
            item_id=item_id,
            outcome=(request.form.get("outcome") or "").strip(),
            note=request.form.get("note"),
        )
    except DomainError as exc:
        flash_recoverable(exc)
        return redirect_back(back)
    message = f"走访 #{item['visit_id']}：{item['outcome_label']}。"
    if item["problem_id"]:
        message += f"已转镇纪委立为问题 #{item['problem_id']}。"
    flash(message, "ok")
    return redirect_back(back)
