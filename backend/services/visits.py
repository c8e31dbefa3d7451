"""Submitting visits: validation, GPS, checks, authenticity flags and idempotent retries.

A phone may send the same visit many times (weak network, offline queue, double taps). The
visit's ``client_uuid`` is unique in the table; a retry with the identical body returns the
stored visit, a different body under the same uuid is a conflict. Concurrent retries race on
the unique constraint: the loser rolls back its savepoint and replays against the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from backend.errors import CATALOGUE, DomainError
from backend.extensions import db
from backend.group_commit import VISIT_COMMITTER
from backend.models import Household, Photo, ReviewStatus, Visit
from backend.services.authz import (
    Actor,
    can_read_household,
    household_scope,
    require_authenticated,
)
from backend.services.visit_ingest import Submission, ingest_visits


def submit_visit(
    *, actor: Actor, data: dict[str, Any], received_at: datetime | None = None
) -> tuple[Visit, bool]:
    """Store one visit, or return the stored one for an identical retry (created=False).

    With the app's group commit (VISIT_GROUP_COMMIT) the visit is stored by it, with the
    submissions of concurrent requests, in a transaction of its own; otherwise in the
    request's. A created visit carries ``photo_ids`` and ``check_rows_json`` (what was just
    stored), so that the response need not read them back.
    """
    require_authenticated(actor)
    submission = Submission(actor=actor, data=data)
    if received_at is not None:
        submission.received_at = received_at
    committer = current_app.extensions.get(VISIT_COMMITTER)
    if committer is None:
        ingest_visits(submissions=[submission])
    else:
        committer.submit(submission)
    return visit_outcome(submission)


def visit_outcome(submission: Submission) -> tuple[Visit, bool]:
    """(visit, created) of an ingested submission; raises the error it got."""
    if submission.error is not None:
        raise submission.error
    if submission.created:
        return submission.visit, True
    return db.session.get(Visit, submission.visit_id), False


@dataclass
class SyncItem:
    """One queued visit of a batch: parsed data, or the validation errors of its raw form."""

    client_uuid: str | None
    data: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None


def sync_visits(*, actor: Actor, items: list[SyncItem]) -> list[dict[str, Any]]:
    """Submit a batch of queued visits; each item succeeds or fails on its own."""
    require_authenticated(actor)
    limit = current_app.config["SYNC_MAX_ITEMS"]
    if len(items) > limit:
        raise DomainError("sync.too_many", f"一次最多同步 {limit} 条走访记录。")
    submissions = {
        index: Submission(actor=actor, data=item.data)
        for index, item in enumerate(items)
        if item.data is not None
    }
    ingest_visits(submissions=list(submissions.values()))
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        sub = submissions.get(index)
        if sub is None:
            results.append(
                _sync_result(
                    item.client_uuid, "invalid", code="request.validation", fields=item.errors
                )
            )
        elif sub.error is not None:
            exc = sub.error
            status = "conflict" if exc.code == "visit.conflict" else "invalid"
            results.append(
                _sync_result(
                    item.client_uuid,
                    status,
                    code=exc.code,
                    message=exc.message,
                    fields=exc.fields,
                    details=exc.details,
                )
            )
        else:
            results.append(
                {
                    "client_uuid": item.client_uuid,
                    "status": "created" if sub.created else "duplicate",
                    "visit_id": sub.visit_id,
                }
            )
    return results


def _sync_result(client_uuid, status, *, code, message=None, fields=None, details=None):
    error: dict[str, Any] = {"code": code, "message": message or CATALOGUE[code].message}
    if fields:
        error["fields"] = fields
    if details:
        error["details"] = details
    return {"client_uuid": client_uuid, "status": status, "error": error}


def get_visit(*, actor: Actor, visit_id: int) -> Visit:
    """One visit, for its helper or staff who can read its household."""
    require_authenticated(actor)
    visit = db.session.get(Visit, visit_id)
    if visit is None or not (
        visit.helper_id == actor.user_id or can_read_household(actor, visit.household)
    ):
        raise DomainError("visit.not_found")
    return visit


def list_visits(
    *,
    actor: Actor,
    household_id: int | None = None,
    helper_id: int | None = None,
    flagged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[Visit], int]:
    """Visits of households the actor may read (and their own), newest first."""
    require_authenticated(actor)
    in_scope = select(Household.id).where(household_scope(actor))
    query = select(Visit).where(
        (Visit.household_id.in_(in_scope)) | (Visit.helper_id == actor.user_id)
    )
    if household_id is not None:
        query = query.where(Visit.household_id == household_id)
    if helper_id is not None:
        query = query.where(Visit.helper_id == helper_id)
    if flagged is not None:
        query = query.where(Visit.flag_count > 0 if flagged else Visit.flag_count == 0)
    if since is not None:
        query = query.where(Visit.ended_at >= since)
    if until is not None:
        query = query.where(Visit.ended_at < until)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Visit.ended_at.desc(), Visit.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(rows), total


def visit_photo_ids(visit: Visit) -> list[int]:
    """Ids of the photos attached to a visit."""
    return list(
        db.session.scalars(select(Photo.id).where(Photo.visit_id == visit.id).order_by(Photo.id))
    )


__all__ = [
    "ReviewStatus",
    "Submission",
    "SyncItem",
    "get_visit",
    "list_visits",
    "submit_visit",
    "sync_visits",
    "visit_outcome",
]
