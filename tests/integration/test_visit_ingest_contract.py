"""What visit ingest's shortcuts must not change.

Ingest builds its answer directly from what it just wrote (``visit_body``), without reading the
visit back: these tests hold it to the documented schema, field for field. It also caches
published survey definitions per process: a retired version must still be refused at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import select

from backend.api.schemas.visits import (
    VisitCheckSchema,
    VisitCreateSchema,
    VisitSchema,
    visit_body,
)
from backend.extensions import db
from backend.models import FormVersion, VisitCheck
from backend.services import forms as forms_service
from backend.services import visits as visits_service
from backend.services.auth import actor_for_user
from backend.services.geo import wgs84_to_gcj02
from tests.integration.test_visits import _body

CST = timezone(timedelta(hours=8))


def _failing_far_short_gcj(town, body):
    # A failed check, three flags, GCJ-02 coordinates and device times in +08:00.
    body["answers"]["water_quality"] = False
    end = datetime.now(UTC) - timedelta(minutes=1)
    body["started_at"] = (end - timedelta(minutes=2)).astimezone(CST).isoformat()
    body["ended_at"] = end.astimezone(CST).isoformat()
    lat, lon = wgs84_to_gcj02(town.household.lat + 0.02, town.household.lon)
    body["gps"].update(lat=lat, lon=lon, coord="gcj02", accuracy=0, altitude=312.5)


def _no_gps(town, body):
    body["gps"] = None


def _no_household_location(town, body):
    town.household.lat = None
    town.household.lon = None
    db.session.flush()


@pytest.mark.parametrize(
    "change",
    [None, _failing_far_short_gcj, _no_gps, _no_household_location],
    ids=["all_pass", "failing_far_short_gcj", "no_gps", "no_household_location"],
)
def test_created_body_is_the_schema_dump_of_the_stored_visit(town, change):
    body = _body(town.household, town.helper)
    if change is not None:
        change(town, body)
    data = VisitCreateSchema().load(body)
    data["client_uuid"] = str(data["client_uuid"])

    visit, created = visits_service.submit_visit(actor=actor_for_user(user=town.helper), data=data)
    assert created
    built = visit_body(
        visit,
        form_version=data["form_version"],
        checks=visit.check_results,
        photo_ids=visit.photo_ids,
    )

    # The schema reads checks, photos and the form version back from the database.
    db.session.expire(visit, ["check_results"])
    visit.photo_ids = visits_service.visit_photo_ids(visit)
    dumped = VisitSchema().dump(visit)
    assert built == dumped
    assert len(built["checks"]) == 26
    # The answer embeds the rows as serialised for the database: the same rows, keys sorted.
    assert orjson.loads(visit.check_rows_json) == built["checks"]
    assert visit.check_rows_json == orjson.dumps(
        built["checks"], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    )
    # The checks that did not pass are also rows of visit_checks, as the answer shows them.
    rows = db.session.scalars(
        select(VisitCheck).where(VisitCheck.visit_id == visit.id).order_by(VisitCheck.id)
    )
    failing = [c for c in built["checks"] if not c["passed"]]
    assert VisitCheckSchema(many=True).dump(rows) == failing
    if change is _failing_far_short_gcj:
        assert built["failed_check_count"] == len(failing) == 1
        assert {f["code"] for f in built["flags"]} >= {
            "gps.far_from_household",
            "gps.mock_suspected",
            "visit.too_short",
        }


def test_post_answers_what_get_and_a_retry_show(client, town, login):
    headers = login(town.helper)
    body = _body(town.household, town.helper)
    body["answers"]["water_quality"] = False

    created = client.post("/api/v1/visits", json=body, headers=headers)
    assert created.status_code == 201, created.json
    shown = client.get(f"/api/v1/visits/{created.json['id']}", headers=headers)
    retried = client.post("/api/v1/visits", json=body, headers=headers)

    assert shown.status_code == 200 and retried.status_code == 200
    assert created.json == shown.json == retried.json
    assert [c["check_key"] for c in created.json["checks"] if not c["passed"]] == ["water_quality"]


def test_a_retired_version_is_refused_though_its_definition_is_cached(client, town, login):
    headers = login(town.helper)
    # The first visit on v1 puts v1's definition in the per-process cache.
    first = client.post("/api/v1/visits", json=_body(town.household, town.helper), headers=headers)
    assert first.status_code == 201, first.json
    admin = actor_for_user(user=town.town_admin)
    seeded = db.session.scalar(select(FormVersion).where(FormVersion.version == 1))
    draft = forms_service.create_form(actor=admin, title="第二版", definition=seeded.definition)
    forms_service.publish_form(actor=admin, form_id=draft.id, retire_previous=True)

    resp = client.post("/api/v1/visits", json=_body(town.household, town.helper), headers=headers)

    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.form_version_invalid"
    assert resp.json["error"]["message"] == "问卷版本不存在或已停用，请更新问卷后重新填写。"
