"""The hash a retry is judged by: stable across releases, blind to what does not matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from backend.services.visit_ingest import canonical_hash

CHINA = timezone(timedelta(hours=8))


def _body(**changes):
    body = {
        "client_uuid": "6f1c2f6e-1b7a-4a7e-9d44-0d7d7f1c9a01",
        "household_id": 17,
        "form_version": 3,
        "started_at": datetime(2026, 11, 5, 9, 0, tzinfo=CHINA),
        "ended_at": datetime(2026, 11, 5, 9, 20, 30, 123000, tzinfo=CHINA),
        "gps": {
            "lat": 29.8412345,
            "lon": 106.0543219,
            "accuracy": 12.5,
            "coord": "gcj02",
            "captured_at": datetime(2026, 11, 5, 1, 19, tzinfo=UTC),
        },
        "photo_ids": [3, 1, 2],
        "answers": {
            "food_ok": True,
            "income_per_person": 8123.45,
            "water_outage_days": 0,
            "notes": "屋顶漏雨，已报村委",
            "school_status": {"41": "in_school", "40": None},
            "photo_house": [3],
        },
        "device_sent_at": datetime(2026, 11, 5, 9, 21, tzinfo=CHINA),
    }
    body.update(changes)
    return body


def test_the_hash_of_a_submission_does_not_change_between_releases():
    # Stored visits keep the hash taken when they were stored: a retry after an upgrade must
    # still match it, so the canonical form may never change.
    assert canonical_hash(_body()) == (
        "db54abf410d0d58e72e418033687b1a2efc234b2e0ac506c53cdeb6a04348e94"
    )


def test_times_count_as_instants_and_the_send_time_not_at_all():
    same_instant = _body(
        started_at=datetime(2026, 11, 5, 1, 0, tzinfo=UTC),
        device_sent_at=datetime(2026, 11, 6, tzinfo=UTC),
    )
    assert canonical_hash(same_instant) == canonical_hash(_body())
    assert canonical_hash({**_body(), "photo_ids": (3, 1, 2)}) == canonical_hash(_body())
    reordered = dict(reversed(list(_body().items())))
    assert canonical_hash(reordered) == canonical_hash(_body())


def test_any_answer_changes_the_hash():
    other = _body()
    other["answers"] = {**other["answers"], "notes": "屋顶漏雨"}
    assert canonical_hash(other) != canonical_hash(_body())
    assert canonical_hash(_body(photo_ids=[1, 2, 3])) != canonical_hash(_body())
