"""The villagers' mobile web pages: the card's report form and the receipt's progress.

``/q/<token>`` is what any phone camera opens from the card's QR. It is plain HTML in Chinese:
no script, no remote resource, no image, the style inline, so it loads on a weak connection
and in any browser. The form posts back to the same address as ``multipart/form-data`` with its
photos; the server stores them and the report in one request and redirects to ``/r/<code>``,
the receipt page. A hidden ``client_uuid`` makes a resubmitted form a replay, not a second
report. Errors come back as the same form, with the text kept and the reason in Chinese.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_limiter import RequestLimit
from werkzeug.exceptions import RequestEntityTooLarge

from backend.api.report_limits import (
    breach_message,
    mark_replay,
    report_rate_limits,
    retry_after_seconds,
)
from backend.errors import DomainError
from backend.services import reports as reports_service
from backend.services.clock import CHINA_TZ

pages = Blueprint("report_pages", __name__)

_CARD_ERRORS = {
    "card.replaced": "public/card_replaced.html",
    "card.not_found": "public/card_not_found.html",
}
_FIELD_LABELS = {
    "description": "问题描述",
    "area": "问题类别",
    "photos": "照片",
    "photo_ids": "照片",
}


def china_time(value) -> str:
    """A timestamp as the town reads it: China time, to the minute."""
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


@pages.get("/q/<token>")
def card_page(token: str):
    """The page a card's QR opens in a phone browser: the report form, and the hotline."""
    try:
        context = reports_service.report_form_context(card_token=token)
    except DomainError as exc:
        return _card_error(exc)
    form = {"client_uuid": str(uuid.uuid4()), "area": reports_service.DEFAULT_AREA}
    return _form_page(token, context, form=form, errors=[], status=200)


def html_breach(limit: RequestLimit) -> Response:
    """The web form's 429: a Chinese page saying how long to wait, and the hotline."""
    seconds = retry_after_seconds(limit)
    body = render_template(
        "public/rate_limited.html",
        message=breach_message(seconds),
        hotline=current_app.config["TOWN_HOTLINE"],
    )
    response = _page(body, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@pages.post("/q/<token>")
@report_rate_limits(on_breach=html_breach)
def submit_card_report(token: str):
    """The report form's submission: photos and report in one go, then the receipt page."""
    form = {"client_uuid": "", "area": reports_service.DEFAULT_AREA, "description": ""}
    try:
        form.update(
            client_uuid=request.form.get("client_uuid", ""),
            area=request.form.get("area") or reports_service.DEFAULT_AREA,
            description=request.form.get("description", ""),
        )
        uploads = [
            reports_service.PhotoUpload(stream=f.stream, filename=f.filename)
            for f in request.files.getlist("photos")
            if f is not None and f.filename
        ]
        outcome = reports_service.submit_web_report(
            card_token=token,
            description=form["description"],
            area=form["area"],
            uploads=uploads,
            client_uuid=form["client_uuid"],
            ip=request.remote_addr,
        )
    except RequestEntityTooLarge:
        return _form_error(
            token, form, ["照片总大小超过上限，请少选几张或拍得小一些后重新提交。"], 413
        )
    except DomainError as exc:
        if exc.code in _CARD_ERRORS:
            return _card_error(exc)
        return _form_error(token, form, _messages(exc), exc.status)
    mark_replay(outcome.replayed)
    return redirect(url_for(".receipt_page", receipt_code=outcome.report.receipt_code), 303)


@pages.get("/r")
def receipt_lookup():
    """Look a receipt code up (the form on the card page sends it here)."""
    raw = request.args.get("code", "")
    code = reports_service.normalise_receipt_code(raw)
    if code:
        return redirect(url_for(".receipt_page", receipt_code=code), 303)
    message = "回执码是 10 位字母和数字，请核对后重新输入。" if raw.strip() else ""
    return _receipt_not_found(message, 404 if raw.strip() else 200)


@pages.get("/r/<receipt_code>")
def receipt_page(receipt_code: str):
    """A report's progress, by its receipt code: status and steps, no personal data."""
    try:
        receipt = reports_service.get_receipt(receipt_code=receipt_code)
    except DomainError as exc:
        if exc.code != "report.not_found":
            raise
        return _receipt_not_found(exc.message, exc.status)
    body = render_template(
        "public/receipt.html",
        receipt=receipt,
        china_time=china_time,
        hotline=current_app.config["TOWN_HOTLINE"],
    )
    return _page(body, 200)


def _form_page(
    token: str, context: dict[str, Any], *, form: dict[str, str], errors: list[str], status: int
) -> Response:
    body = render_template(
        "public/card.html",
        view=context,
        token=token,
        form=form,
        errors=errors,
        hotline=current_app.config["TOWN_HOTLINE"],
    )
    return _page(body, status)


def _form_error(token: str, form: dict[str, str], errors: list[str], status: int) -> Response:
    try:
        context = reports_service.report_form_context(card_token=token)
    except DomainError as exc:
        return _card_error(exc)
    return _form_page(token, context, form=form, errors=errors, status=status)


def _messages(exc: DomainError) -> list[str]:
    messages = [exc.message]
    for fields in (exc.fields or {}).values():
        for name, texts in fields.items():
            label = _FIELD_LABELS.get(name, name)
            messages += [f"{label}：{text}" for text in texts]
    return messages


def _card_error(exc: DomainError) -> Response:
    if exc.code not in _CARD_ERRORS:
        raise exc
    hotline = current_app.config["TOWN_HOTLINE"]
    body = render_template(_CARD_ERRORS[exc.code], hotline=hotline, message=exc.message)
    return _page(body, exc.status)


def _receipt_not_found(message: str, status: int) -> Response:
    body = render_template(
        "public/receipt_lookup.html",
        message=message,
        hotline=current_app.config["TOWN_HOTLINE"],
    )
    return _page(body, status)


def _page(body: str, status: int) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    # Card tokens and receipt codes are in the URL: keep them out of referrers and indexes.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return response
