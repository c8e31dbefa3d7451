"""Server-side SVG charts for the dashboard: no chart library, no remote resource, no script.

Every function returns ``Markup`` holding one ``<svg>`` element with a ``viewBox`` (so it scales
with its container) and escaped text. They are pure: plain values in, markup out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# The dashboard's palette (also in dashboard.css).
BLUE = "#2563a8"
GREEN = "#2f855a"
ORANGE = "#d97706"
RED = "#c53030"
GREY = "#94a3b8"
INK = "#1f2937"
MUTED = "#64748b"
GRID = "#e2e8f0"

STATUS_COLOURS = {"cleared": GREEN, "open_problems": ORANGE, "not_visited": RED}
STATUS_LABELS = {
    "cleared": "已清",
    "open_problems": "已走访，尚有问题未办结",
    "not_visited": "本期未走访",
}
# Outline and label colours of villages on the map, cycled.
VILLAGE_TINTS = ["#2563a8", "#7c3aed", "#0f766e", "#b45309", "#be185d", "#4d7c0f", "#1d4ed8"]


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, body: str, **attrs: str | float) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{_fmt(x)}" y="{_fmt(y)}"{extra}>{escape(body)}</text>'


def _svg(width: int, height: int, body: Iterable[str], *, label: str, css_class: str) -> Markup:
    return Markup(
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="inherit">' + "".join(body) + "</svg>"
    )


# --- trend --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    """One month of the trend."""

    label: str
    coverage_pct: float | None
    cleared_pct: float | None


def trend_chart(points: Sequence[TrendPoint], *, width: int = 640, height: int = 230) -> Markup:
    """A line chart of coverage % and cleared % by month, 0–100 on the y axis."""
    left, right, top, bottom = 40, 16, 30, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts: list[str] = []
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{left}" y1="{_fmt(y)}" x2="{width - right}" y2="{_fmt(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{pct}%", text_anchor="end", font_size=11, fill=MUTED))
    n = len(points)
    step = plot_w / max(n - 1, 1)

    def x_of(i: int) -> float:
        return left + (step * i if n > 1 else plot_w / 2)

    for i, point in enumerate(points):
        parts.append(
            _text(x_of(i), height - 8, point.label, text_anchor="middle", font_size=11, fill=MUTED)
        )
    series = (("coverage_pct", "走访覆盖率", BLUE), ("cleared_pct", "户户清率", GREEN))
    for key, _name, colour in series:
        coords = [
            (x_of(i), top + plot_h * (1 - getattr(p, key) / 100))
            for i, p in enumerate(points)
            if getattr(p, key) is not None
        ]
        if len(coords) > 1:
            path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
                'stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for x, y in coords:
            parts.append(
                f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.5" fill="#fff" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        last = next((p for p in reversed(points) if getattr(p, key) is not None), None)
        if last is not None and coords:
            x, y = coords[-1]
            # The lower of the two lines is labelled below its point, so labels never collide.
            other = "cleared_pct" if key == "coverage_pct" else "coverage_pct"
            below = (getattr(last, other) or 0) > getattr(last, key)
            parts.append(
                _text(
                    x,
                    y + 17 if below else y - 8,
                    f"{_fmt(getattr(last, key))}%",
                    text_anchor="end" if x > width - right - 20 else "middle",
                    font_size=11,
                    font_weight=600,
                    fill=colour,
                )
            )
    if all(p.coverage_pct is None and p.cleared_pct is None for p in points):
        parts.append(
            _text(
                left + plot_w / 2,
                top + plot_h / 2,
                "暂无走访数据",
                text_anchor="middle",
                font_size=14,
                fill=MUTED,
            )
        )
    legend_x = left
    for _key, name, colour in series:
        parts.append(f'<rect x="{legend_x}" y="8" width="14" height="4" rx="2" fill="{colour}"/>')
        parts.append(_text(legend_x + 20, 14, name, font_size=12, fill=INK))
        legend_x += 110
    return _svg(width, height, parts, label="近月走访覆盖率与户户清率趋势", css_class="chart trend")


# --- bars ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BarRow:
    """One office's open problems, of which some are overdue."""

    label: str
    open: int
    overdue: int


def problem_bars(rows: Sequence[BarRow], *, width: int = 440) -> Markup:
    """Horizontal bars: open problems per office, the overdue part in red."""
    row_h, top, label_w, value_w = 26, 26, 128, 86
    height = top + row_h * max(len(rows), 1) + 6
    plot_w = width - label_w - value_w
    biggest = max((r.open for r in rows), default=0) or 1
    parts = [
        f'<rect x="{label_w}" y="6" width="12" height="10" rx="2" fill="{BLUE}"/>',
        _text(label_w + 18, 15, "在办", font_size=12, fill=INK),
        f'<rect x="{label_w + 70}" y="6" width="12" height="10" rx="2" fill="{RED}"/>',
        _text(label_w + 88, 15, "其中逾期", font_size=12, fill=INK),
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        parts.append(
            _text(label_w - 8, y + 15, row.label, text_anchor="end", font_size=12, fill=INK)
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="14" rx="3" fill="#f1f5f9"/>'
        )
        if row.open:
            w = max(plot_w * row.open / biggest, 2)
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{_fmt(w)}" height="14" rx="3" '
                f'fill="{BLUE}"/>'
            )
        if row.overdue:
            w = max(plot_w * min(row.overdue, row.open or row.overdue) / biggest, 2)
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{_fmt(w)}" height="14" rx="3" '
                f'fill="{RED}"/>'
            )
        parts.append(
            _text(
                width - value_w + 8,
                y + 15,
                f"{row.open}" + (f"（逾期{row.overdue}）" if row.overdue else ""),
                font_size=12,
                fill=RED if row.overdue else INK,
            )
        )
    if not rows:
        parts.append(_text(label_w, top + 15, "暂无问题", font_size=12, fill=MUTED))
    return _svg(width, height, parts, label="各责任单位在办与逾期问题", css_class="chart bars")


# --- geometry -----------------------------------------------------------------------------------


def convex_hull(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull of ``points``, counter-clockwise, without repeating the first point."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _grown(hull: list[tuple[float, float]], margin: float) -> list[tuple[float, float]]:
    """Push each hull vertex ``margin`` away from the centroid, so edge points sit inside."""
    cx = sum(x for x, _ in hull) / len(hull)
    cy = sum(y for _, y in hull) / len(hull)
    grown = []
    for x, y in hull:
        d = math.hypot(x - cx, y - cy) or 1.0
        grown.append((x + (x - cx) / d * margin, y + (y - cy) / d * margin))
    return grown


@dataclass(frozen=True)
class MapPoint:
    """One household on the map."""

    lat: float
    lon: float
    status: str  # a key of STATUS_COLOURS
    village_id: int
    title: str
    href: str


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection of WGS-84 degrees onto the SVG's pixels, north up."""

    lat0: float
    lon0: float
    scale: float  # pixels per metre
    offset_x: float
    offset_y: float

    def __call__(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = _metres(self.lat0, self.lon0, lat, lon)
        return self.offset_x + x * self.scale, self.offset_y - y * self.scale


def _metres(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    # Good to well under a percent over a town (a few km): the map needs no better.
    x = (lon - lon0) * 111_320.0 * math.cos(math.radians(lat0))
    y = (lat - lat0) * 110_574.0
    return x, y


def fit_projection(
    coords: Sequence[tuple[float, float]],
    *,
    width: float,
    height: float,
    pad: float,
    max_scale: float | None = None,
) -> Projection:
    """A projection showing every (lat, lon) of ``coords`` inside the box, margins ``pad``."""
    lats = [c[0] for c in coords]
    lons = [c[1] for c in coords]
    lat0, lon0 = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
    xs, ys = zip(*(_metres(lat0, lon0, lat, lon) for lat, lon in coords), strict=True)
    span_x = max(max(xs) - min(xs), 1.0)
    span_y = max(max(ys) - min(ys), 1.0)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    if max_scale is not None:
        scale = min(scale, max_scale)
    # Centre the drawing: the middle of the data at the middle of the box.
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return Projection(
        lat0=lat0,
        lon0=lon0,
        scale=scale,
        offset_x=width / 2 - mid_x * scale,
        offset_y=height / 2 + mid_y * scale,
    )


def _scale_bar(projection: Projection, *, x: float, y: float, max_px: float) -> list[str]:
    """A scale bar of a round length (10 m … 20 km) no longer than ``max_px``."""
    metres = max_px / projection.scale
    nice = 10.0
    for candidate in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000):
        if candidate <= metres:
            nice = float(candidate)
    px = nice * projection.scale
    label = f"{nice / 1000:g} 公里" if nice >= 1000 else f"{nice:g} 米"
    return [
        f'<path d="M{_fmt(x)},{_fmt(y - 5)} v5 h{_fmt(px)} v-5" fill="none" stroke="{INK}" '
        'stroke-width="1.5"/>',
        _text(x + px / 2, y - 8, label, text_anchor="middle", font_size=11, fill=INK),
    ]


def household_map(
    points: Sequence[MapPoint],
    villages: dict[int, str],
    *,
    width: int = 1000,
    height: int = 620,
) -> Markup:
    """Households as dots coloured by 户户清 status, villages outlined by their points' hull."""
    parts: list[str] = [f'<rect width="{width}" height="{height}" fill="#f8fafc"/>']
    if not points:
        parts.append(
            _text(
                width / 2,
                height / 2,
                "本范围内没有登记了位置的农户",
                text_anchor="middle",
                font_size=16,
                fill=MUTED,
            )
        )
        return _svg(width, height, parts, label="农户户户清状态地图", css_class="chart map")
    project = fit_projection([(p.lat, p.lon) for p in points], width=width, height=height, pad=48)
    by_village: dict[int, list[tuple[float, float]]] = {}
    for p in points:
        by_village.setdefault(p.village_id, []).append(project(p.lat, p.lon))
    labels: list[str] = []
    for index, village_id in enumerate(sorted(by_village)):
        tint = VILLAGE_TINTS[index % len(VILLAGE_TINTS)]
        xy = by_village[village_id]
        hull = convex_hull(xy)
        name = villages.get(village_id, "")
        if len(hull) >= 3:
            outline = _grown(hull, 12)
            d = "M" + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in outline) + " Z"
            parts.append(
                f'<path d="{d}" fill="{tint}" fill-opacity="0.06" stroke="{tint}" '
                'stroke-width="1.5" stroke-dasharray="6 4" stroke-linejoin="round">'
                f"<title>{escape(name)}</title></path>"
            )
        else:
            cx = sum(x for x, _ in xy) / len(xy)
            cy = sum(y for _, y in xy) / len(xy)
            r = max((math.hypot(x - cx, y - cy) for x, y in xy), default=0) + 14
            parts.append(
                f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(r)}" fill="{tint}" '
                f'fill-opacity="0.06" stroke="{tint}" stroke-width="1.5" '
                f'stroke-dasharray="6 4"><title>{escape(name)}</title></circle>'
            )
        top_x, top_y = min(xy, key=lambda c: c[1])
        labels.append(
            _text(
                top_x,
                max(top_y - 16, 14),
                name,
                text_anchor="middle",
                font_size=14,
                font_weight=700,
                fill=tint,
                stroke="#fff",
                stroke_width=4,
                paint_order="stroke",
            )
        )
    # Cleared first, so the households that need work are drawn on top.
    order = {"cleared": 0, "open_problems": 1, "not_visited": 2}
    for p in sorted(points, key=lambda p: order.get(p.status, 3)):
        x, y = project(p.lat, p.lon)
        colour = STATUS_COLOURS.get(p.status, GREY)
        parts.append(
            f'<a href="{escape(p.href)}"><circle class="hh {escape(p.status)}" '
            f'cx="{_fmt(x)}" cy="{_fmt(y)}" r="4.5" fill="{colour}" stroke="#fff" '
            f'stroke-width="1"><title>{escape(p.title)}</title></circle></a>'
        )
    parts.extend(labels)
    parts.extend(_scale_bar(project, x=24, y=height - 20, max_px=160))
    parts.append(
        f'<path d="M{width - 30},22 l8,20 l-8,-6 l-8,6 Z" fill="{INK}"/>'
        + _text(width - 30, 58, "北", text_anchor="middle", font_size=12, fill=INK)
    )
    return _svg(width, height, parts, label="农户户户清状态地图", css_class="chart map")


# --- the review queue's small map -------------------------------------------------------------


def visit_minimap(
    *,
    visit: tuple[float, float] | None,
    household: tuple[float, float] | None,
    accuracy_m: float | None = None,
    distance_m: float | None = None,
    width: int = 260,
    height: int = 180,
) -> Markup:
    """Where the visit was recorded against where the household is, with the distance."""
    parts: list[str] = [f'<rect width="{width}" height="{height}" rx="6" fill="#f8fafc"/>']
    label = "走访定位与农户位置"
    if visit is None or household is None:
        missing = "未获取到走访定位" if visit is None else "农户未登记位置"
        parts.append(
            _text(width / 2, height / 2, missing, text_anchor="middle", font_size=13, fill=MUTED)
        )
        return _svg(width, height, parts, label=label, css_class="chart minimap")
    # At least 200 m across, so two points a few metres apart do not fill the box.
    project = fit_projection(
        [visit, household],
        width=width,
        height=height - 20,
        pad=36,
        max_scale=(width - 72) / 200.0,
    )
    hx, hy = project(*household)
    vx, vy = project(*visit)
    if accuracy_m:
        r = min(accuracy_m * project.scale, width)
        parts.append(
            f'<circle cx="{_fmt(vx)}" cy="{_fmt(vy)}" r="{_fmt(r)}" fill="{RED}" '
            f'fill-opacity="0.08" stroke="{RED}" stroke-opacity="0.35"/>'
        )
    parts.append(
        f'<line x1="{_fmt(hx)}" y1="{_fmt(hy)}" x2="{_fmt(vx)}" y2="{_fmt(vy)}" '
        f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<rect x="{_fmt(hx - 6)}" y="{_fmt(hy - 6)}" width="12" height="12" rx="2" '
        f'fill="{BLUE}" stroke="#fff" stroke-width="1.5"><title>农户登记位置</title></rect>'
    )
    parts.append(
        f'<circle cx="{_fmt(vx)}" cy="{_fmt(vy)}" r="6" fill="{RED}" stroke="#fff" '
        'stroke-width="1.5"><title>走访定位</title></circle>'
    )
    if distance_m is not None:
        text = f"{distance_m / 1000:.1f} 公里" if distance_m >= 1000 else f"{distance_m:.0f} 米"
        parts.append(_text(10, 20, f"相距 {text}", font_size=13, font_weight=700, fill=INK))
    legend_y = height - 8
    parts.append(
        f'<rect x="8" y="{legend_y - 9}" width="10" height="10" rx="2" fill="{BLUE}"/>'
        + _text(22, legend_y, "农户", font_size=11, fill=INK)
        + f'<circle cx="64" cy="{legend_y - 4}" r="5" fill="{RED}"/>'
        + _text(73, legend_y, "走访定位", font_size=11, fill=INK)
    )
    parts.extend(_scale_bar(project, x=width - 96, y=legend_y, max_px=80))
    return _svg(width, height, parts, label=label, css_class="chart minimap")
