"""One helper's phone carrying out its part of the plan.

Online, a visit is sent the moment it is made: the photos first, one request each (with the
household id), then ``POST /visits`` naming the photos by id. Offline, the visit waits in a queue
with its photos named by their client_uuid; when the phone is next online (before its next
online visit, or at the end of the run) it uploads the queued photos and sends the visits to
``POST /sync/visits`` in batches. A visit marked ``replay`` is sent a second time, identically,
as a phone does when an answer was lost on the way: online another ``POST /visits`` (and one of
its photos again), offline another sync batch. The server must answer "duplicate" each time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scripts.fieldsim.answers import build_answers, photo_slots
from scripts.fieldsim.http import Api, Traffic, describe
from scripts.fieldsim.media import PhotoSpec, render_photo
from scripts.fieldsim.plan import REUSED_PHOTO, PlannedVisit, new_uuid

CREATED, DUPLICATE, CONFLICT, INVALID = "created", "duplicate", "conflict", "invalid"
OPTIONAL_PHOTO_SHARE = 0.5


@dataclass
class Outcome:
    """What became of one planned visit."""

    visit: PlannedVisit
    status: str | None = None  # created | duplicate | conflict | invalid; None: no answer
    visit_id: int | None = None
    flags: list[str] | None = None  # flag codes, once known
    failed_checks: int | None = None
    replay_status: str | None = None
    error: str | None = None


@dataclass
class PhoneResult:
    """Everything one phone did."""

    helper: str
    outcomes: list[Outcome] = field(default_factory=list)
    photos_created: int = 0
    photo_replays: int = 0
    photo_errors: int = 0
    sync_batches: int = 0
    local_invalid: int = 0  # bodies the survey engine refused before sending
    traffic: Traffic = field(default_factory=Traffic)


@dataclass
class _Photo:
    slot: str
    client_uuid: str
    spec: PhotoSpec


@dataclass
class _Prepared:
    outcome: Outcome
    body: dict[str, Any]
    photos: list[_Photo]


def photo_purpose(slot: str) -> str:
    """The upload ``purpose`` of a photo question of the survey."""
    for word, purpose in (("house", "house"), ("water", "water"), ("head", "with_head")):
        if word in slot:
            return purpose
    return "other"


def photo_spec(visit: PlannedVisit, slot: str) -> PhotoSpec:
    """The picture taken for ``slot`` during ``visit``: its own pixels, caption and time."""
    rng = random.Random(f"{visit.seed}:{slot}")
    taken = visit.started_at + rng.uniform(0.2, 0.9) * (visit.ended_at - visit.started_at)
    taken = taken.replace(microsecond=0)
    caption = f"{visit.household.number} {slot} {taken.strftime('%Y-%m-%d %H:%M')}"
    return PhotoSpec(seed=rng.getrandbits(64), caption=caption, taken_at=taken)


def _original(visit: PlannedVisit) -> PlannedVisit:
    while visit.fake == REUSED_PHOTO and visit.reuse_from is not None:
        visit = visit.reuse_from
    return visit


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Phone:
    """A helper's phone: logged in, with its queue, carrying out its planned visits."""

    def __init__(
        self,
        api: Api,
        helper: str,
        visits: list[PlannedVisit],
        *,
        seed: int,
        batch_size: int,
    ) -> None:
        self.api = api
        self.visits = visits
        self.seed = seed
        self.batch_size = batch_size
        self.queue: list[_Prepared] = []
        self.result = PhoneResult(helper=helper, traffic=api.traffic)

    def run(self) -> PhoneResult:
        """Make every planned visit, online or into the queue, and flush the queue at the end."""
        try:
            for visit in self.visits:
                prepared = self._prepare(visit)
                if prepared is None:
                    continue
                if visit.offline:
                    self.queue.append(prepared)
                else:
                    self._flush()  # back online: the queue goes first
                    self._send_online(prepared)
            self._flush()
        finally:
            self.api.close()
        return self.result

    # --- one visit -------------------------------------------------------------------------

    def _prepare(self, visit: PlannedVisit) -> _Prepared | None:
        outcome = Outcome(visit=visit)
        self.result.outcomes.append(outcome)
        response = self.api.call("GET", f"/households/{visit.household.id}/visit-form")
        if response is None or response.status_code != 200:
            outcome.error = describe(response) if response is not None else "visit-form: no answer"
            self.api.traffic.note(outcome.error)
            return None
        form = response.json()
        definition = form["form"]["definition"]
        rng = random.Random(visit.seed)
        photos: list[_Photo] = []
        for question in photo_slots(definition):
            if question.get("required") is True or rng.random() < OPTIONAL_PHOTO_SHARE:
                slot = question["key"]
                photos.append(_Photo(slot, new_uuid(rng), photo_spec(visit, slot)))
        if visit.fake == REUSED_PHOTO and photos:
            first = photos[0]
            first.spec = photo_spec(_original(visit.reuse_from), first.slot)
        answers, errors = build_answers(
            definition=definition,
            prefill=form.get("prefill") or {},
            members=form.get("members") or [],
            visit_date=visit.visit_date,
            household_rng=random.Random(f"fieldsim:household:{self.seed}:{visit.household.id}"),
            visit_rng=rng,
            photos={p.slot: [p.client_uuid] for p in photos},
            shortfall=visit.shortfall,
        )
        if errors:
            self.result.local_invalid += 1
            self.api.traffic.note(f"answers for household {visit.household.id}: {errors}")
        # A photo question the form does not ask this time keeps no photo.
        photos = [p for p in photos if p.client_uuid in (answers.get(p.slot) or [])]
        body = {
            "client_uuid": visit.client_uuid,
            "household_id": visit.household.id,
            "form_version": form["form"]["version"],
            "answers": answers,
            "started_at": visit.started_at.isoformat(),
            "ended_at": visit.ended_at.isoformat(),
            "gps": visit.gps,
        }
        return _Prepared(outcome=outcome, body=body, photos=photos)

    def _upload(self, photo: _Photo, visit: PlannedVisit, *, online: bool) -> int | None:
        form = {
            "client_uuid": photo.client_uuid,
            "purpose": photo_purpose(photo.slot),
            "visit_client_uuid": visit.client_uuid,
        }
        if online:
            # Queued photos go up together just before their batch, unnamed: the sync claims
            # each for its household in queue order. Named now, a photo that a later visit of
            # the batch copies (reused-photo fake) would flag its own, earlier visit instead.
            form["household_id"] = str(visit.household.id)
        files = {"file": ("wx-camera.jpg", render_photo(photo.spec), "image/jpeg")}
        response = self.api.call("POST", "/photos", data=form, files=files)
        if response is not None and response.status_code in (200, 201):
            if response.status_code == 201:
                self.result.photos_created += 1
            else:
                self.result.photo_replays += 1
            return response.json()["id"]
        self.result.photo_errors += 1
        if response is not None and response.status_code < 500:
            self.api.traffic.note(describe(response))
        return None

    def _post_visit(self, body: dict[str, Any]):
        return self.api.call("POST", "/visits", json=dict(body, device_sent_at=_now()))

    def _send_online(self, prepared: _Prepared) -> None:
        visit, outcome = prepared.outcome.visit, prepared.outcome
        ids = {p.client_uuid: self._upload(p, visit, online=True) for p in prepared.photos}
        if visit.replay and prepared.photos:
            self._upload(prepared.photos[0], visit, online=True)  # the answer was lost: again
        body = dict(prepared.body)
        body["answers"] = {
            key: [ids.get(ref) or ref for ref in value] if key in _slots(prepared) else value
            for key, value in body["answers"].items()
        }
        response = self._post_visit(body)
        _record(outcome, response)
        if visit.replay:
            again = self._post_visit(body)
            outcome.replay_status = _status_of(again)

    # --- the offline queue -----------------------------------------------------------------

    def _flush(self) -> None:
        if not self.queue:
            return
        queue, self.queue = self.queue, []
        for prepared in queue:
            for photo in prepared.photos:
                self._upload(photo, prepared.outcome.visit, online=False)
        for start in range(0, len(queue), self.batch_size):
            self._sync(queue[start : start + self.batch_size], replay=False)
        replays = [p for p in queue if p.outcome.visit.replay]
        for start in range(0, len(replays), self.batch_size):
            self._sync(replays[start : start + self.batch_size], replay=True)
        for prepared in queue:
            outcome = prepared.outcome
            if outcome.visit_id is not None and outcome.flags is None:
                self._read_back(outcome)

    def _sync(self, batch: list[_Prepared], *, replay: bool) -> None:
        self.result.sync_batches += 1
        now = _now()
        visits = [dict(p.body, device_sent_at=now) for p in batch]
        response = self.api.call("POST", "/sync/visits", json={"visits": visits})
        if response is None or response.status_code != 200:
            text = describe(response) if response is not None else "sync: no answer"
            self.api.traffic.note(text)
            for prepared in batch:
                if not replay:
                    prepared.outcome.error = text
            return
        for prepared, item in zip(batch, response.json()["results"], strict=True):
            outcome = prepared.outcome
            if replay:
                outcome.replay_status = item["status"]
                continue
            outcome.status = item["status"]
            outcome.visit_id = item.get("visit_id")
            if item.get("error"):
                error = item["error"]
                outcome.error = f"{error.get('code')}: {error.get('message')}"
                if error.get("fields"):
                    outcome.error += f" {error['fields']}"

    def _read_back(self, outcome: Outcome) -> None:
        response = self.api.call("GET", f"/visits/{outcome.visit_id}")
        if response is not None and response.status_code == 200:
            _take_visit(outcome, response.json())


def _slots(prepared: _Prepared) -> set[str]:
    return {p.slot for p in prepared.photos}


def _status_of(response) -> str | None:
    if response is None or response.status_code >= 500:
        return None  # no verdict: the visit may or may not be stored
    if response.status_code in (200, 201):
        return CREATED if response.status_code == 201 else DUPLICATE
    return CONFLICT if response.status_code == 409 else INVALID


def _take_visit(outcome: Outcome, body: dict[str, Any]) -> None:
    outcome.visit_id = body["id"]
    outcome.flags = [flag["code"] for flag in body.get("flags") or []]
    outcome.failed_checks = body.get("failed_check_count")


def _record(outcome: Outcome, response) -> None:
    outcome.status = _status_of(response)
    if response is None:
        outcome.error = "POST /visits: no answer"
    elif response.status_code in (200, 201):
        _take_visit(outcome, response.json())
    else:
        outcome.error = describe(response)
