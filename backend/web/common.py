"""What every dashboard page shares: the signed-in actor, the period, navigation, formatting."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Role
from backend.services import audit as audit_service
from backend.services import review as review_service
from backend.services import spot_checks as spot_check_service
from backend.services.authz import Actor
from backend.services.clock import CHINA_TZ, china_today
from backend.services.coverage import COVERAGE_ROLES
from backend.services.periods import Period, last_months, month_period, parse_period

MAP_ROLES = COVERAGE_ROLES | {Role.HELPER}
# Months offered by the month picker, newest first.
PICKER_MONTHS = 24


def actor() -> Actor:
    """The signed-in staff member of this request (set by the blueprint's before_request)."""
    return g.web_actor


def period_arg() -> Period:
    """The period of the page: ``?period=2026-11`` (or a quarter), default this China month."""
    raw = (request.args.get("period") or "").strip()
    return parse_period(period=raw) if raw else month_period(china_today())


def month_choices(current: Period) -> list[tuple[str, str]]:
    """The month picker's (key, label) choices, newest first, always holding ``current``."""
    months = [
        (p.key, p.label) for p in reversed(last_months(count=PICKER_MONTHS, until=china_today()))
    ]
    if current.key not in {key for key, _ in months}:
        months.insert(0, (current.key, current.label))
    return months


def int_arg(name: str) -> int | None:
    """An optional positive integer query argument; anything else is a 422 page."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 12:
        raise DomainError(
            "request.validation",
            f"参数 {name} 应为正整数。",
            fields={"query": {name: ["应为正整数。"]}},
        )
    return int(raw)


def page_arg(name: str = "page") -> int:
    """The page number, 1 by default."""
    return int_arg(name) or 1


def safe_next(default: str) -> str:
    """The ``next`` form field when it is a dashboard path of this site, else ``default``."""
    target = (request.form.get("next") or request.args.get("next") or "").strip()
    if target.startswith("/web/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect_back(default: str) -> Response:
    """303 back to where the form came from (POST, then a GET of the page)."""
    return redirect(safe_next(default), code=303)


def flash_error(exc: DomainError) -> None:
    """Flash a domain error as one Chinese line, with the field messages when there are any."""
    messages = []
    for location in (exc.fields or {}).values():
        if isinstance(location, dict):
            for value in location.values():
                messages.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    text = exc.message
    if messages:
        text = f"{text}（{'；'.join(dict.fromkeys(messages))}）"
    flash(text, "error")


def recoverable(exc: DomainError) -> bool:
    """True for mistakes a person fixes on the same page (bad input, a state that moved on)."""
    return exc.status in (409, 413, 415, 422)


def undo_request_changes(exc: DomainError) -> None:
    """Drop what the failed action flushed, unless the error asks to keep it (audit rows)."""
    if exc.keep_changes:
        g.keep_changes = True
        return
    db.session.rollback()


def flash_recoverable(exc: DomainError) -> None:
    """Undo and flash a mistake fixed on the same page; re-raise any other error (its page)."""
    if not recoverable(exc):
        raise exc
    undo_request_changes(exc)
    flash_error(exc)


# --- navigation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    """One link of the side bar."""

    endpoint: str
    label: str
    icon: str
    keeps_period: bool


def nav_items(who: Actor) -> list[NavItem]:
    """The pages this actor may open, in the side bar's order."""
    roles = who.roles
    items = [NavItem("web.overview", "总览", "overview", True)]
    if roles & MAP_ROLES:
        items.append(NavItem("web.map_page", "户户清地图", "map", True))
    items.append(NavItem("web.problem_board", "问题督办", "problems", False))
    if roles & review_service.REVIEW_READ_ROLES:
        items.append(NavItem("web.review_queue", "走访审核", "review", True))
    if roles & spot_check_service.READ_ROLES:
        items.append(NavItem("web.spot_checks", "抽查核验", "spot", False))
    items.append(NavItem("web.exports_page", "台账导出", "exports", True))
    if roles & audit_service.AUDIT_READ_ROLES:
        items.append(NavItem("web.audit_page", "审计日志", "audit", False))
    return items


def url_with(endpoint: str, **params: Any) -> str:
    """``url_for`` dropping empty parameters."""
    return url_for(endpoint, **{k: v for k, v in params.items() if v not in (None, "", False)})


def query_without(*names: str, **changes: Any) -> str:
    """The current query string without ``names`` and with ``changes`` (for pager links)."""
    pairs = [
        (k, v) for k, v in request.args.items(multi=True) if k not in names and k not in changes
    ]
    pairs += [(k, v) for k, v in changes.items() if v not in (None, "")]
    return "?" + urlencode(pairs) if pairs else "?"


# --- formatting ---------------------------------------------------------------------------------


def china_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp as the town reads it: China time."""
    if value is None:
        return "—"
    return value.astimezone(CHINA_TZ).strftime(fmt)


def china_date(value: date | datetime | None) -> str:
    """A day in China time."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d")
    return value.isoformat()


def pct(value: float | None) -> str:
    """A percentage with one decimal, or a dash."""
    return "—" if value is None else f"{value:.1f}%"


def distance(value: float | None) -> str:
    """Metres or kilometres."""
    if value is None:
        return "—"
    return f"{value / 1000:.1f} 公里" if value >= 1000 else f"{value:.0f} 米"


@dataclass(frozen=True)
class Pager:
    """Where a page of a list is."""

    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def has_prev(self) -> bool:
        """True unless this is the first page."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """True unless this is the last page."""
        return self.page < self.pages
