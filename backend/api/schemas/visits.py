"""Visit schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend import jsonfast
from backend.api.schemas.common import PageQueryArgsSchema, page_of


class GpsCreateSchema(Schema):
    """A location fix as the phone reports it."""

    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    accuracy = fields.Float(
        required=True, validate=validate.Range(min=0, error="定位精度不能为负数。")
    )
    altitude = fields.Float(load_default=None, allow_none=True)
    coord = fields.String(required=True, validate=validate.OneOf(["wgs84", "gcj02"]))
    captured_at = fields.AwareDateTime(load_default=None, allow_none=True)


class VisitCreateSchema(Schema):
    """A visit submitted from the phone (now, or later from its offline queue)."""

    client_uuid = fields.UUID(required=True)
    household_id = fields.Integer(load_default=None, allow_none=True)
    card_token = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    form_version = fields.Integer(required=True, validate=validate.Range(min=1))
    # No key field: the body is JSON, whose object keys are strings already.
    answers = fields.Dict(required=True)
    started_at = fields.AwareDateTime(required=True)
    ended_at = fields.AwareDateTime(required=True)
    device_sent_at = fields.AwareDateTime(load_default=None, allow_none=True)
    gps = fields.Nested(GpsCreateSchema, load_default=None, allow_none=True)
    photo_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        load_default=list,
        validate=validate.Length(max=30),
    )

    @validates_schema
    def _one_household(self, data, **_kwargs):
        if bool(data.get("household_id")) == bool(data.get("card_token")):
            raise ValidationError("请提供 household_id 或 card_token 中的一个。", "household_id")


class VisitSyncCreateSchema(Schema):
    """A batch of queued visits; each item is validated on its own."""

    visits = fields.List(fields.Dict(), required=True)


class VisitCheckSchema(Schema):
    """The result of one check."""

    check_key = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    area = fields.String(dump_only=True)
    office_codes = fields.List(fields.String(), dump_only=True)
    passed = fields.Boolean(dump_only=True)
    applicable = fields.Boolean(dump_only=True)
    evidence = fields.Dict(dump_only=True)


class GpsSchema(Schema):
    """The stored fix (WGS-84) and what the phone sent."""

    lat = fields.Float(attribute="gps_lat", dump_only=True)
    lon = fields.Float(attribute="gps_lon", dump_only=True)
    accuracy = fields.Float(attribute="gps_accuracy", dump_only=True)
    altitude = fields.Float(attribute="gps_altitude", dump_only=True, allow_none=True)
    coord_sent = fields.String(attribute="gps_coord", dump_only=True)
    raw_lat = fields.Float(attribute="gps_raw_lat", dump_only=True)
    raw_lon = fields.Float(attribute="gps_raw_lon", dump_only=True)
    captured_at = fields.DateTime(attribute="gps_captured_at", dump_only=True, allow_none=True)


class VisitSchema(Schema):
    """A stored visit."""

    id = fields.Integer(dump_only=True)
    client_uuid = fields.String(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    helper_id = fields.Integer(dump_only=True)
    form_version = fields.Integer(attribute="form_version.version", dump_only=True)
    answers = fields.Dict(dump_only=True)
    started_at = fields.DateTime(dump_only=True)
    ended_at = fields.DateTime(dump_only=True)
    received_at = fields.DateTime(dump_only=True)
    gps = fields.Method("_gps", dump_only=True, allow_none=True)
    distance_m = fields.Float(dump_only=True, allow_none=True)
    flags = fields.List(fields.Dict(), dump_only=True)
    failed_check_count = fields.Integer(dump_only=True)
    review_status = fields.String(dump_only=True)
    checks = fields.List(fields.Nested(VisitCheckSchema), attribute="check_results", dump_only=True)
    photo_ids = fields.List(fields.Integer(), dump_only=True)

    def _gps(self, visit):
        return GpsSchema().dump(visit) if visit.gps_lat is not None else None


VisitPageSchema = page_of(VisitSchema, "VisitPage")


def visit_body(
    visit: Any,
    *,
    form_version: int,
    checks: list[dict[str, Any]] | jsonfast.Fragment,
    photo_ids: list[int],
) -> dict[str, Any]:
    """``VisitSchema().dump(visit)`` for a visit this request stored, built directly.

    Ingest answers with the visit it just wrote: the check rows and photo ids are known
    without reading them back, and marshmallow's field-by-field dump of 26 nested checks was
    a large share of a submission's CPU. ``VisitSchema`` stays the contract (and the OpenAPI
    description); tests compare this body with the schema's dump of the stored visit. The
    conversions are the schema fields' own (Integer → int, Float → float, DateTime →
    isoformat, Dict and List(Dict) → shallow copies).
    """
    return {
        "id": visit.id,
        "client_uuid": str(visit.client_uuid),
        "household_id": visit.household_id,
        "helper_id": visit.helper_id,
        "form_version": form_version,
        "answers": dict(visit.answers),
        "started_at": visit.started_at.isoformat(),
        "ended_at": visit.ended_at.isoformat(),
        "received_at": visit.received_at.isoformat(),
        "gps": _gps_body(visit) if visit.gps_lat is not None else None,
        "distance_m": _float(visit.distance_m),
        "flags": [dict(flag) for flag in visit.flags],
        "failed_check_count": visit.failed_check_count,
        "review_status": visit.review_status,
        # The rows were built for this answer (services.visit_ingest), with exactly the
        # schema's keys: nothing to convert or copy. Already serialised rows (a JSON
        # fragment) go as they are.
        "checks": checks if isinstance(checks, jsonfast.Fragment) else list(checks),
        "photo_ids": list(photo_ids),
    }


def _gps_body(visit: Any) -> dict[str, Any]:
    captured = visit.gps_captured_at
    return {
        "lat": float(visit.gps_lat),
        "lon": float(visit.gps_lon),
        "accuracy": float(visit.gps_accuracy),
        "altitude": _float(visit.gps_altitude),
        "coord_sent": visit.gps_coord,
        "raw_lat": float(visit.gps_raw_lat),
        "raw_lon": float(visit.gps_raw_lon),
        "captured_at": captured.isoformat() if captured is not None else None,
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class VisitQueryArgsSchema(PageQueryArgsSchema):
    """Filters for the visit list."""

    household_id = fields.Integer()
    helper_id = fields.Integer()
    flagged = fields.Boolean()
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


class SyncErrorSchema(Schema):
    """Why one queued visit was not stored."""

    code = fields.String(dump_only=True)
    message = fields.String(dump_only=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", dump_only=True)
    details = fields.Dict(dump_only=True)


class SyncResultSchema(Schema):
    """The outcome of one queued visit: created, duplicate, conflict or invalid."""

    client_uuid = fields.String(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    visit_id = fields.Integer(dump_only=True)
    error = fields.Nested(SyncErrorSchema, dump_only=True)


class SyncResponseSchema(Schema):
    """The per-item results of a batch, in the order sent."""

    results = fields.List(fields.Nested(SyncResultSchema), dump_only=True)
