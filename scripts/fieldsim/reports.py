"""Villagers' reports (农户主动反映): a villager scans the card on the wall and reports.

The card's token is what its QR code carries (``PUBLIC_BASE_URL/q/<token>``). The simulator
reads it the way a villager's phone does, by decoding the QR image, here the one a town admin
can fetch (``GET /households/<id>/qr.png``); decoding needs ``zxing-cpp`` (a development
dependency). Then, without logging in: maybe one photo (``POST /reports/photos``), the report
(``POST /reports``) and, for a share, the same report again (a lost answer: the server must
replay it). Reports are rate-limited per card and per client address, and every simulated
villager sends from this machine, so expect 429s when many reports are sent.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from PIL import Image

from scripts.fieldsim.http import Api, Traffic, describe, error_code
from scripts.fieldsim.media import PhotoSpec, render_photo
from scripts.fieldsim.plan import Helper, new_uuid

PHOTO_SHARE = 0.5
DESCRIPTIONS = {
    "water": ("最近自来水经常停水，一停就是好几天。", "水管漏水，饮水有异味。"),
    "housing": ("下雨时房顶漏水，墙上有裂缝。", "厨房的墙开裂了，担心不安全。"),
    "medical": ("老人住院自付费用太高，报销还没有到账。", "家庭医生很久没来过了。"),
    "schooling": ("孩子上学的助学金还没有发下来。",),
    "basic_living": ("家里老人生病，生活困难，想申请低保。",),
    "jobs": ("想找附近的工作，希望村里帮忙联系。",),
    "income": ("今年猪价下跌，家里收入减少很多。",),
    "environment": ("房屋旁边的垃圾没有人清运。",),
}
GENERIC = ("村里的路灯坏了很久，晚上出行不便。", "希望帮扶干部再来家里看看。")


@dataclass(frozen=True)
class ReportPlan:
    """One report: which card, what randomness, whether it is sent twice."""

    household_id: int
    household_number: str
    seed: int
    replay: bool


@dataclass
class ReportTally:
    """What the villagers' reports got."""

    sent: int = 0
    accepted: int = 0
    replays: int = 0  # second sends answered with the stored report
    rate_limited: int = 0
    refused: int = 0  # content refused (422)
    failed: int = 0  # anything else: no token, unexpected answers
    photos: int = 0
    traffic: Traffic = field(default_factory=Traffic)

    def merge(self, other: ReportTally) -> None:
        """Add another tally to this one."""
        for name in ("sent", "accepted", "replays", "rate_limited", "refused", "failed", "photos"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.traffic.merge(other.traffic)


def plan_reports(
    helpers: list[Helper], days: list[date], *, share: float, replay_share: float, seed: int
) -> list[ReportPlan]:
    """About ``share`` reports per household and day, over the simulated helpers' households."""
    rng = random.Random(f"fieldsim:reports:{seed}:{days[-1].isoformat()}")
    plans = []
    for helper in helpers:
        for household in helper.households:
            for _day in days:
                if rng.random() < share:
                    plans.append(
                        ReportPlan(
                            household_id=household.id,
                            household_number=household.number,
                            seed=rng.getrandbits(64),
                            replay=rng.random() < replay_share,
                        )
                    )
    return plans


def report_areas(api: Api) -> list[dict[str, Any]] | None:
    """The areas villagers may report on; None when this server has no reports endpoint."""
    response = api.call("GET", "/reports/areas")
    if response is None or response.status_code != 200:
        return None
    return response.json()


def card_token(admin: Api, household_id: int) -> str | None:
    """The token on the household's card, read from its QR code."""
    import zxingcpp  # development dependency; run_simulation checks it is there

    response = admin.call("GET", f"/households/{household_id}/qr.png")
    if response is None or response.status_code != 200:
        return None
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
    if not found or "/q/" not in found[0].text:
        return None
    return found[0].text.rstrip("/").rsplit("/q/", 1)[1]


def send_report(
    base_url: str, admin_token: str, plan: ReportPlan, areas: list[dict[str, Any]]
) -> ReportTally:
    """Scan the card, maybe attach a photo, report, maybe report again."""
    tally = ReportTally()
    admin = Api(base_url, token=admin_token)
    villager = Api(base_url)
    try:
        token = card_token(admin, plan.household_id)
        if token is None:
            tally.failed += 1
            tally.traffic.note(f"household {plan.household_id}: no card token from qr.png")
            return tally
        rng = random.Random(plan.seed)
        area = rng.choice(areas)["area"] if areas else "other"
        body: dict[str, Any] = {
            "card_token": token,
            "area": area,
            "description": rng.choice(DESCRIPTIONS.get(area, GENERIC)),
            "photo_ids": [],
            "client_uuid": new_uuid(rng),
            "contact_ok": rng.random() < 0.5,
        }
        if rng.random() < PHOTO_SHARE:
            spec = PhotoSpec(
                seed=rng.getrandbits(64),
                caption=f"{plan.household_number} report",
                taken_at=datetime.now(UTC).replace(microsecond=0),
            )
            response = villager.call(
                "POST",
                "/reports/photos",
                data={"card_token": token, "client_uuid": new_uuid(rng)},
                files={"file": ("wx-camera.jpg", render_photo(spec), "image/jpeg")},
            )
            if response is not None and response.status_code in (200, 201):
                tally.photos += 1
                body["photo_ids"] = [response.json()["id"]]
            else:
                _tally_refusal(tally, response)
                return tally
        tally.sent += 1
        response = villager.call("POST", "/reports", json=body)
        if response is not None and response.status_code == 201:
            tally.accepted += 1
        elif response is not None and response.status_code == 200:
            tally.replays += 1  # a report with this client_uuid was stored before
        else:
            _tally_refusal(tally, response)
            return tally
        if plan.replay:
            again = villager.call("POST", "/reports", json=body)
            if again is not None and again.status_code == 200:
                tally.replays += 1
            else:
                _tally_refusal(tally, again)
    finally:
        tally.traffic.merge(admin.traffic)
        tally.traffic.merge(villager.traffic)
        admin.close()
        villager.close()
    return tally


def _tally_refusal(tally: ReportTally, response) -> None:
    """Count a step the server refused (the report goes no further)."""
    if response is not None and response.status_code == 429:
        tally.rate_limited += 1
    elif response is not None and error_code(response) == "report.content_refused":
        tally.refused += 1
    else:
        tally.failed += 1
        if response is not None and response.status_code < 500:
            tally.traffic.note(describe(response))
