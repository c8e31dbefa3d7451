"""Ledger exports (台账导出) from the dashboard: the API's streamed exports, with the session.

The API's ``/api/v1/exports/...`` answers bearer tokens only, so the dashboard has its own
routes that call the same ``services/exports.py`` pipeline with the signed-in actor and stream
the same bytes. A plain download is a link (GET); one with full personal data is a form (POST,
CSRF-checked), since it writes a ``pii.read`` row to the audit log.
"""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context

from backend.errors import DomainError
from backend.models import Role
from backend.models.household import CATEGORY_LABELS, HouseholdCategory
from backend.services import exports as export_service
from backend.services.authz import PII_ROLES, REGION_ROLES
from backend.services.regions import list_regions
from backend.web.blueprint import web
from backend.web.common import actor, int_arg

KIND_NOTES = {
    "households": "每户一行：户主、类别、帮扶责任人、最近一次走访的检查结果、户户清状态与原因。",
    "problems": "每个问题一行：责任单位、类别、状态、整改期限、是否逾期、督办级别。",
    "visits": "本期每次走访一行：时间、时长、定位与距离、异常标记、审核结果。",
    "coverage": "按下级地区汇总：农户数、已走访、覆盖率、异常与无效走访、户户清率。",
}
UNMASKABLE = ("households", "problems", "visits")


@web.get("/exports")
def exports_page():
    """台账导出: what the person may download, for a period and a region of their scope."""
    who = actor()
    period = (request.args.get("period") or "").strip()
    region_id = int_arg("region_id")
    category = (request.args.get("category") or "").strip()
    params = {k: v for k, v in (("period", period), ("region_id", region_id)) if v}
    kinds = []
    for kind, formats in export_service.KIND_FORMATS.items():
        if not who.roles & export_service.KIND_ROLES[kind]:
            continue
        kind_params = dict(params)
        if category and kind in ("households", "coverage"):
            kind_params["category"] = category
        kinds.append(
            {
                "kind": kind,
                "title": export_service.KIND_TITLES[kind],
                "note": KIND_NOTES[kind],
                "formats": formats,
                "params": kind_params,
                "unmask": kind in UNMASKABLE and bool(who.roles & PII_ROLES),
            }
        )
    paths = who.paths_for(REGION_ROLES)
    regions = [
        r
        for r in list_regions(actor=who)
        if r.level in ("district", "town", "village") and any(r.path.startswith(p) for p in paths)
    ]
    return render_template(
        "web/exports.html",
        kinds=kinds,
        regions=regions,
        region_id=region_id,
        period_value=period,
        category=category,
        categories=[(c.value, label) for c, label in CATEGORY_LABELS.items()],
        helper_only=not (who.roles - {Role.HELPER}),
    )


@web.route("/exports/<string:kind>.<string:fmt>", methods=["GET", "POST"])
def export_download(kind: str, fmt: str):
    """Stream one ledger in the person's scope; POST with ``unmask`` for full personal data."""
    source = request.form if request.method == "POST" else request.args
    unmask = request.method == "POST" and source.get("unmask") in ("1", "true", "on")
    region = (source.get("region_id") or "").strip()
    if region and (not region.isdigit() or len(region) > 12):
        raise DomainError("request.validation", fields={"query": {"region_id": ["应为正整数。"]}})
    category = (source.get("category") or "").strip() or None
    if category is not None and category not in {c.value for c in HouseholdCategory}:
        raise DomainError("request.validation", fields={"query": {"category": ["户类别无效。"]}})
    job = export_service.prepare_export(
        actor=actor(),
        kind=kind,
        fmt=fmt,
        region_id=int(region) if region else None,
        period=(source.get("period") or "").strip() or None,
        category=category,
        unmask=unmask,
    )
    response = Response(stream_with_context(job.chunks()), content_type=job.mimetype)
    response.headers["Content-Disposition"] = job.content_disposition
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Export-Rows"] = str(job.row_count)
    return response
