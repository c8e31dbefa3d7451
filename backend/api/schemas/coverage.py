"""Coverage and 户户清 status schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema, page_of

# ----- query arguments ----------------------------------------------------------------------


class CoveragePeriodQueryArgsSchema(Schema):
    """A period: ``period`` (2026-11 or 2026-Q4), or ``from`` and ``to``; default this month."""

    period = fields.String(load_default=None, metadata={"example": "2026-11"})
    from_ = fields.String(data_key="from", load_default=None, metadata={"example": "2026-11-01"})
    to = fields.String(load_default=None, metadata={"example": "2026-11-30"})


class CoverageQueryArgsSchema(CoveragePeriodQueryArgsSchema):
    """What coverage to compute: period, scope and household category."""

    scope = fields.String(
        load_default=None,
        validate=validate.OneOf(["district", "town", "village", "group", "helper"]),
    )
    region_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    helper_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    category = fields.String(load_default=None)
    not_visited_page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    not_visited_page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class HouseholdStatusQueryArgsSchema(CoveragePeriodQueryArgsSchema, PageQueryArgsSchema):
    """Filters of the 户户清 list."""

    region_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    helper_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    category = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["cleared", "not_cleared"]))
    reason = fields.String(
        load_default=None,
        validate=validate.OneOf(["not_visited", "failing_checks_open", "open_reports"]),
    )


class StatusRollupQueryArgsSchema(CoveragePeriodQueryArgsSchema):
    """户户清 roll-up by village or group."""

    by = fields.String(load_default="village", validate=validate.OneOf(["village", "group"]))
    region_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    category = fields.String(load_default=None)


class StatusTrendQueryArgsSchema(Schema):
    """户户清 trend over the last months."""

    months = fields.Integer(load_default=12)
    region_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    category = fields.String(load_default=None)


# ----- shared pieces ------------------------------------------------------------------------


class CoveragePeriodSchema(Schema):
    """The period a figure is about."""

    kind = fields.String(dump_only=True, metadata={"example": "month"})
    key = fields.String(dump_only=True, metadata={"example": "2026-11"})
    from_ = fields.Date(data_key="from", attribute="from", dump_only=True)
    to = fields.Date(dump_only=True)
    label = fields.String(dump_only=True, metadata={"example": "2026年11月"})


class RegionRefSchema(Schema):
    """A region."""

    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    level = fields.String(dump_only=True)


class NameRefSchema(Schema):
    """A village or group by id and name."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)


class HelperRefSchema(Schema):
    """A helper by id and name."""

    id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True, allow_none=True)


class ScopeSchema(Schema):
    """The scope the figures are about."""

    kind = fields.String(dump_only=True)
    region = fields.Nested(RegionRefSchema, dump_only=True, allow_none=True)
    helper = fields.Nested(HelperRefSchema, dump_only=True, allow_none=True)


class HouseholdRefSchema(Schema):
    """A household in a coverage or status list (head name masked)."""

    household_id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    head_name = fields.String(dump_only=True)
    village = fields.Nested(NameRefSchema, dump_only=True, allow_none=True)
    group = fields.Nested(NameRefSchema, dump_only=True, allow_none=True)
    helper = fields.Nested(HelperRefSchema, dump_only=True, allow_none=True)
    last_visit_at = fields.DateTime(dump_only=True, allow_none=True)


# ----- coverage -----------------------------------------------------------------------------


class CoverageFiguresSchema(Schema):
    """Households, visited households and the share."""

    key = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    households = fields.Integer(dump_only=True)
    visited = fields.Integer(dump_only=True)
    not_visited = fields.Integer(dump_only=True)
    coverage_pct = fields.Float(dump_only=True, allow_none=True)
    visits = fields.Integer(dump_only=True, metadata={"description": "visits that count"})
    flagged_visits = fields.Integer(dump_only=True)
    invalid_visits = fields.Integer(dump_only=True)
    other_visits = fields.Integer(dump_only=True)


class CoverageRowSchema(CoverageFiguresSchema):
    """One child region of the scope."""

    region_id = fields.Integer(dump_only=True)
    level = fields.String(dump_only=True)


class CoverageHelperSchema(Schema):
    """One helper's households and how many were visited."""

    helper_id = fields.Integer(dump_only=True, allow_none=True)
    display_name = fields.String(dump_only=True)
    households = fields.Integer(dump_only=True)
    visited = fields.Integer(dump_only=True)
    not_visited = fields.Integer(dump_only=True)
    coverage_pct = fields.Float(dump_only=True, allow_none=True)
    visits = fields.Integer(dump_only=True)
    flagged = fields.Integer(dump_only=True)
    invalid = fields.Integer(dump_only=True)


class VisitsByRoleSchema(Schema):
    """Visits of the period by who made them."""

    role = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    visits = fields.Integer(dump_only=True)


class SecretaryRowSchema(Schema):
    """One party secretary and the poor households of their region."""

    user_id = fields.Integer(dump_only=True)
    display_name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    region = fields.Nested(RegionRefSchema, dump_only=True)
    households = fields.Integer(dump_only=True)
    visited = fields.Integer(dump_only=True)
    visits = fields.Integer(dump_only=True)
    coverage_pct = fields.Float(dump_only=True, allow_none=True)


class SecretariesSchema(Schema):
    """二级书记遍访贫困户: registered poor households visited by a party secretary."""

    label = fields.String(dump_only=True)
    poor_households = fields.Integer(dump_only=True)
    visited = fields.Integer(dump_only=True)
    coverage_pct = fields.Float(dump_only=True, allow_none=True)
    by_secretary = fields.List(fields.Nested(SecretaryRowSchema), dump_only=True)


class CoverageSchema(Schema):
    """Coverage of a scope in a period."""

    period = fields.Nested(CoveragePeriodSchema, dump_only=True)
    scope = fields.String(dump_only=True)
    scope_detail = fields.Nested(ScopeSchema, dump_only=True)
    category = fields.String(dump_only=True, allow_none=True)
    category_label = fields.String(dump_only=True, allow_none=True)
    counts_unreviewed_flagged = fields.Boolean(dump_only=True)
    source = fields.String(dump_only=True, metadata={"example": "rollup"})
    rows = fields.List(fields.Nested(CoverageRowSchema), dump_only=True)
    total = fields.Nested(CoverageFiguresSchema, dump_only=True)
    visits_by_role = fields.List(fields.Nested(VisitsByRoleSchema), dump_only=True)
    not_visited = fields.List(fields.Nested(HouseholdRefSchema), dump_only=True)
    not_visited_total = fields.Integer(dump_only=True)
    not_visited_page = fields.Integer(dump_only=True)
    not_visited_page_size = fields.Integer(dump_only=True)
    helpers = fields.List(fields.Nested(CoverageHelperSchema), dump_only=True)
    helpers_total = fields.Integer(dump_only=True)
    secretaries = fields.Nested(SecretariesSchema, dump_only=True, allow_none=True)


# ----- 户户清 status ------------------------------------------------------------------------


class StatusReasonSchema(Schema):
    """Why a household is not cleared."""

    code = fields.String(dump_only=True, metadata={"example": "failing_checks_open"})
    label = fields.String(dump_only=True)
    visit_id = fields.Integer(dump_only=True)
    check_keys = fields.List(fields.String(), dump_only=True)
    problem_ids = fields.List(fields.Integer(), dump_only=True)


class LatestVisitSchema(Schema):
    """The visit the status was judged on."""

    id = fields.Integer(dump_only=True)
    ended_at = fields.DateTime(dump_only=True)


class HouseholdStatusSchema(HouseholdRefSchema):
    """One household's 户户清 status."""

    cleared = fields.Boolean(dump_only=True)
    status_label = fields.String(dump_only=True)
    latest_visit = fields.Nested(LatestVisitSchema, dump_only=True, allow_none=True)
    reasons = fields.List(fields.Nested(StatusReasonSchema), dump_only=True)


class HouseholdStatusDetailSchema(HouseholdStatusSchema):
    """One household's 户户清 status, with its period."""

    period = fields.Nested(CoveragePeriodSchema, dump_only=True)


HouseholdStatusPageSchema = page_of(HouseholdStatusSchema, "HouseholdStatusPage")


class ReasonCountsSchema(Schema):
    """Households per reason (a household may have several)."""

    not_visited = fields.Integer(dump_only=True)
    failing_checks_open = fields.Integer(dump_only=True)
    open_reports = fields.Integer(dump_only=True)


class StatusFiguresSchema(Schema):
    """Cleared households and the share."""

    key = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    households = fields.Integer(dump_only=True)
    visited = fields.Integer(dump_only=True)
    cleared = fields.Integer(dump_only=True)
    not_cleared = fields.Integer(dump_only=True)
    cleared_pct = fields.Float(dump_only=True, allow_none=True)
    coverage_pct = fields.Float(dump_only=True, allow_none=True)
    reasons = fields.Nested(ReasonCountsSchema, dump_only=True)


class StatusRollupRowSchema(StatusFiguresSchema):
    """One village or group."""

    region_id = fields.Integer(dump_only=True)
    level = fields.String(dump_only=True)


class StatusRollupSchema(Schema):
    """户户清 by village or group."""

    period = fields.Nested(CoveragePeriodSchema, dump_only=True)
    by = fields.String(dump_only=True)
    scope = fields.Nested(ScopeSchema, dump_only=True)
    rows = fields.List(fields.Nested(StatusRollupRowSchema), dump_only=True)
    total = fields.Nested(StatusFiguresSchema, dump_only=True)


class StatusTrendPointSchema(StatusFiguresSchema):
    """One month of the trend."""

    period = fields.Nested(CoveragePeriodSchema, dump_only=True)


class StatusTrendSchema(Schema):
    """户户清 and coverage month by month."""

    scope = fields.Nested(ScopeSchema, dump_only=True)
    months = fields.List(fields.Nested(StatusTrendPointSchema), dump_only=True)
