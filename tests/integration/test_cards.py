"""Household cards through HTTP: QR image, reissue, printable sheets, scans and the public page.

QR codes are read back with a real decoder (zxing-cpp), from the PNG and from PDF pages
rasterised with pdfium, and the decoded URL must lead to the right household.
"""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, CardStatus, HouseholdCard, Role
from backend.models.base import utcnow
from backend.services import cards as cards_service
from backend.services.clock import CHINA_TZ
from backend.services.pii import mask_household_number, mask_id_number, mask_phone
from tests import factories
from tests.pdf_tools import read_pdf

BASE = "https://hhq.example.cn/q/"
HOTLINE = "023-45600000"
ROLES = ["helper", "village_cadre", "office", "town_admin", "inspector", "district"]


# --- helpers -------------------------------------------------------------------------------


def decode_image(image: Image.Image) -> list[str]:
    """Every QR text zxing-cpp finds in ``image``."""
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def decode_png(data: bytes) -> list[str]:
    """Every QR text in a PNG."""
    return decode_image(Image.open(io.BytesIO(data)))


def pdf_pages(data: bytes) -> tuple[list[Image.Image], str]:
    """Rasterise every page and extract the whole text."""
    images, texts = read_pdf(data)
    return images, "\n".join(texts)


def token_of(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def scan(client, token, headers=None):
    return client.get(f"/api/v1/scan/{token}", headers=headers or {})


def actions(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


@pytest.fixture
def far(town):
    """A household in another town of the same district: only the district reaches it."""
    other_town = factories.RegionFactory(
        code="500151106", name="南城镇", level="town", parent=town.district
    )
    village = factories.RegionFactory(
        code="500151106201", name="河口村", level="village", parent=other_town
    )
    group = factories.RegionFactory(
        code="500151106201001", name="一组", level="group", parent=village
    )
    household = factories.HouseholdFactory(region=group, village=village)
    factories.MemberFactory(household=household, name=household.head_name)
    return household


@pytest.fixture
def card(town):
    """The active card of the standard household."""
    return factories.CardFactory(household=town.household)


# --- qr.png --------------------------------------------------------------------------------


def test_qr_png_decodes_to_the_card_url_of_the_household(client, town, login):
    resp = client.get(f"/api/v1/households/{town.household.id}/qr.png", headers=login(town.helper))
    assert resp.status_code == 200
    assert resp.mimetype == "image/png"
    assert resp.headers["Cache-Control"] == "no-store"
    [url] = decode_png(resp.data)
    token = token_of(url)
    assert 24 <= len(token) <= 32 and token.isalnum()
    card = db.session.scalar(select(HouseholdCard).where(HouseholdCard.token == token))
    assert card.household_id == town.household.id and card.status == CardStatus.ACTIVE

    view = scan(client, token, login(town.helper))
    assert view.status_code == 200, view.json
    assert view.json["view"] == "household"
    assert view.json["household"]["id"] == town.household.id

    # Fetching again shows the same card: the first fetch issued it, later ones reuse it.
    again = client.get(
        f"/api/v1/households/{town.household.id}/qr.png", headers=login(town.town_admin)
    )
    assert decode_png(again.data) == [url]


QR_IN_SCOPE = {
    "helper": 200,  # the assigned helper may fetch their household's code
    "village_cadre": 200,
    "office": 403,
    "town_admin": 200,
    "inspector": 403,
    "district": 200,
}
QR_OTHER_VILLAGE = {
    "helper": 404,
    "village_cadre": 404,
    "office": 403,
    "town_admin": 200,
    "inspector": 403,
    "district": 200,
}


@pytest.mark.parametrize("role", ROLES)
def test_qr_png_authorization(client, town, login, far, role):
    user = town.users_by_role()[role]
    for household, expected in (
        (town.household, QR_IN_SCOPE[role]),
        (town.other_household, QR_OTHER_VILLAGE[role]),
        (far, 200 if role == "district" else 404),
        (town.far_household, 404),  # another district: outside every grant
    ):
        resp = client.get(f"/api/v1/households/{household.id}/qr.png", headers=login(user))
        assert resp.status_code == expected, (role, household.id, resp.json)
        if expected == 403:
            assert resp.json["error"]["code"] == "auth.forbidden"
        elif expected == 404:
            assert resp.json["error"]["code"] == "household.not_found"
    # A refused request issues no card.
    if QR_IN_SCOPE[role] != 200:
        assert (
            db.session.scalar(
                select(HouseholdCard).where(HouseholdCard.household_id == town.household.id)
            )
            is None
        )


def test_qr_png_other_helper_and_anonymous(client, town, login):
    resp = client.get(
        f"/api/v1/households/{town.household.id}/qr.png", headers=login(town.other_helper)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"
    resp = client.get(f"/api/v1/households/{town.household.id}/qr.png")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"
    resp = client.get("/api/v1/households/999999/qr.png", headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"


# --- reissue -------------------------------------------------------------------------------


def test_reissue_revokes_the_old_card_and_the_new_one_works(client, town, login, card):
    old_token = card.token
    resp = client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.village_cadre)
    )
    assert resp.status_code == 201, resp.json
    new = resp.json
    assert new["household_id"] == town.household.id
    assert new["status"] == "active"
    assert new["token"] != old_token and len(new["token"]) == 24
    assert new["url"] == BASE + new["token"]

    db.session.refresh(card)
    assert card.status == CardStatus.REVOKED
    assert card.revoked_at is not None
    assert card.revoked_by_id == town.village_cadre.id
    assert card.replaced_by_id == new["id"]
    [event] = actions("card.revoked")
    assert event.actor_user_id == town.village_cadre.id
    assert event.target_type == "household" and event.target_id == str(town.household.id)
    assert event.detail == {"revoked_card_id": card.id, "new_card_id": new["id"]}

    # The old token is refused for everyone, signed in or not.
    for headers in ({}, login(town.helper), login(town.town_admin)):
        old = scan(client, old_token, headers)
        assert old.status_code == 410
        assert old.json["error"]["code"] == "card.replaced"
        assert old.json["error"]["message"] == "此二维码已作废，请使用新换发的明白卡。"

    # The new card's QR decodes to the new token, which resolves to the household.
    png = client.get(f"/api/v1/households/{town.household.id}/qr.png", headers=login(town.helper))
    [url] = decode_png(png.data)
    assert token_of(url) == new["token"]
    view = scan(client, new["token"], login(town.helper))
    assert view.status_code == 200
    assert view.json["household"]["id"] == town.household.id


def test_reissue_twice_chains_the_replacements(client, town, login, card):
    headers = login(town.town_admin)
    first = client.post(f"/api/v1/households/{town.household.id}/card/reissue", headers=headers)
    second = client.post(f"/api/v1/households/{town.household.id}/card/reissue", headers=headers)
    assert first.status_code == second.status_code == 201
    cards = db.session.scalars(
        select(HouseholdCard)
        .where(HouseholdCard.household_id == town.household.id)
        .order_by(HouseholdCard.id)
    ).all()
    assert [c.status for c in cards] == ["revoked", "revoked", "active"]
    assert cards[0].replaced_by_id == first.json["id"]
    assert cards[1].replaced_by_id == second.json["id"]
    assert scan(client, first.json["token"]).status_code == 410


def test_reissue_without_a_card_issues_the_first(client, town, login):
    resp = client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.town_admin)
    )
    assert resp.status_code == 201
    assert actions("card.revoked") == []
    [event] = actions("card.issued")
    assert event.detail["new_card_id"] == resp.json["id"]


REISSUE_IN_SCOPE = {
    "helper": 403,
    "village_cadre": 201,
    "office": 403,
    "town_admin": 201,
    "inspector": 403,
    "district": 201,
}
REISSUE_OTHER_VILLAGE = {
    "helper": 404,
    "village_cadre": 404,
    "office": 403,
    "town_admin": 201,
    "inspector": 403,
    "district": 201,
}


@pytest.mark.parametrize("role", ROLES)
def test_reissue_authorization(client, town, login, far, role, card):
    user = town.users_by_role()[role]
    for household, expected in (
        (town.household, REISSUE_IN_SCOPE[role]),
        (town.other_household, REISSUE_OTHER_VILLAGE[role]),
        (far, 201 if role == "district" else 404),
        (town.far_household, 404),
    ):
        resp = client.post(f"/api/v1/households/{household.id}/card/reissue", headers=login(user))
        assert resp.status_code == expected, (role, household.id, resp.json)
        if expected == 403:
            assert resp.json["error"]["code"] == "auth.forbidden"
        elif expected == 404:
            assert resp.json["error"]["code"] == "household.not_found"
    db.session.refresh(card)
    assert card.status == ("active" if REISSUE_IN_SCOPE[role] != 201 else "revoked")


def test_reissue_other_helper_and_anonymous(client, town, login, card):
    resp = client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.other_helper)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"
    resp = client.post(f"/api/v1/households/{town.household.id}/card/reissue")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"
    db.session.refresh(card)
    assert card.status == CardStatus.ACTIVE


# --- cards.pdf -----------------------------------------------------------------------------


@pytest.fixture
def village_households(town):
    """Ten households in 石桥村 over two groups, with every doctor situation the seed has."""
    group2 = factories.RegionFactory(
        code="500151105201002", name="二组", level="group", parent=town.village
    )
    households = [town.household]
    for i in range(9):
        group = town.group if i % 2 else group2
        household = factories.HouseholdFactory(region=group, village=town.village)
        if i == 0:
            # The head has no contracted doctor, a child does: the child's doctor is printed.
            factories.MemberFactory(household=household, name=household.head_name, doctor_name=None)
            factories.MemberFactory(
                household=household,
                relation="子女",
                birth_date=date(2001, 1, 1),
                doctor_name="周医生",
                doctor_phone="13711112222",
            )
        elif i == 1:
            # Nobody knows their doctor.
            factories.MemberFactory(
                household=household, name=household.head_name, doctor_name=None, doctor_phone=None
            )
        else:
            factories.MemberFactory(household=household, name=household.head_name)
        if i < 6:
            factories.AssignmentFactory(helper=town.helper, household=household)
        households.append(household)
    # An existing card must be reused, not replaced.
    factories.CardFactory(household=households[3])
    for household in households:
        db.session.refresh(household)
    return households


def test_cards_pdf_has_one_decodable_card_per_household(client, town, login, village_households):
    resp = client.get(
        f"/api/v1/villages/{town.village.id}/cards.pdf", headers=login(town.village_cadre)
    )
    assert resp.status_code == 200, resp.json
    assert resp.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    images, text = pdf_pages(resp.data)
    assert len(images) == 2  # ten cards, eight per page

    urls = [url for image in images for url in decode_image(image)]
    assert len(urls) == len(village_households) == 10
    tokens = {token_of(url) for url in urls}
    active = {
        c.household_id: c.token
        for c in db.session.scalars(
            select(HouseholdCard).where(HouseholdCard.status == CardStatus.ACTIVE)
        )
    }
    assert tokens == {active[h.id] for h in village_households}
    assert active[village_households[3].id].startswith("TestCardToken")

    # Every decoded URL resolves to its household; the assigned helper sees it.
    headers = login(town.town_admin)
    seen = set()
    for token in tokens:
        view = scan(client, token, headers)
        assert view.status_code == 200
        seen.add(view.json["household"]["id"])
    assert seen == {h.id for h in village_households}
    view = scan(client, active[town.household.id], login(town.helper))
    assert view.json["household"]["id"] == town.household.id

    # The Chinese text is really there (the CJK font is embedded and mapped to Unicode).
    for expected in ("石桥村", "一组", "二组", "明白卡", HOTLINE, "未签约", "周医生", "帮扶甲"):
        assert expected in text, expected
    for household in village_households:
        assert household.head_name in text
        assert mask_household_number(household.number) in text
        assert household.number not in text
    assert town.helper.phone in text

    [event] = actions("card.printed")
    assert event.target_type == "region" and event.target_id == str(town.village.id)
    assert event.detail == {"households": 10}


def test_cards_pdf_prints_the_heads_doctor_first(client, town, login):
    household = town.household
    head, child = household.members
    head.doctor_name, head.doctor_phone = "户主医生", "13722223333"
    child.doctor_name, child.doctor_phone = "子女医生", "13744445555"
    db.session.flush()
    resp = client.get(
        f"/api/v1/villages/{town.village.id}/cards.pdf", headers=login(town.town_admin)
    )
    _, text = pdf_pages(resp.data)
    assert "户主医生" in text and "13722223333" in text
    assert "子女医生" not in text


PDF_IN_SCOPE = {
    "helper": 403,
    "village_cadre": 200,
    "office": 403,
    "town_admin": 200,
    "inspector": 403,
    "district": 200,
}


@pytest.mark.parametrize("role", ROLES)
def test_cards_pdf_authorization(client, town, login, role):
    user = town.users_by_role()[role]
    resp = client.get(f"/api/v1/villages/{town.village.id}/cards.pdf", headers=login(user))
    assert resp.status_code == PDF_IN_SCOPE[role], resp.data[:200]
    if PDF_IN_SCOPE[role] == 403:
        assert resp.json["error"]["code"] == "auth.forbidden"
        assert db.session.scalar(select(HouseholdCard)) is None
    else:
        assert resp.data.startswith(b"%PDF")


def test_cards_pdf_out_of_scope_and_anonymous(client, town, login):
    resp = client.get(
        f"/api/v1/villages/{town.other_village.id}/cards.pdf", headers=login(town.village_cadre)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "region.not_found"
    resp = client.get(
        f"/api/v1/villages/{town.village.id}/cards.pdf", headers=login(town.other_helper)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "region.not_found"
    resp = client.get(
        f"/api/v1/villages/{town.far_village.id}/cards.pdf", headers=login(town.district_user)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "region.not_found"
    resp = client.get("/api/v1/villages/999999/cards.pdf", headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "region.not_found"
    resp = client.get(f"/api/v1/villages/{town.village.id}/cards.pdf")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


@pytest.mark.parametrize("region", ["group", "town", "district"])
def test_cards_pdf_needs_a_village(client, town, login, region):
    region_id = getattr(town, region).id
    resp = client.get(f"/api/v1/villages/{region_id}/cards.pdf", headers=login(town.district_user))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "region.not_village"
    assert resp.json["error"]["message"] == "明白卡按村打印，请选择一个村。"


def test_cards_pdf_of_an_empty_village(client, town, login):
    empty = factories.RegionFactory(
        code="500151105203", name="空村", level="village", parent=town.town
    )
    resp = client.get(f"/api/v1/villages/{empty.id}/cards.pdf", headers=login(town.town_admin))
    assert resp.status_code == 200
    images, text = pdf_pages(resp.data)
    assert len(images) == 1
    assert "暂无农户" in text


# --- scan ----------------------------------------------------------------------------------


def _personal_strings(town) -> list[str]:
    household = town.household
    values = [
        household.number,
        mask_household_number(household.number),
        household.head_name,
        household.address,
        household.phone,
        mask_phone(household.phone),
        str(household.lat),
        str(household.lon),
        town.helper.display_name,
        town.helper.phone,
        town.group.name,
    ]
    for member in household.members:
        values += [
            member.name,
            member.id_number,
            mask_id_number(member.id_number),
            member.doctor_name,
            member.doctor_phone,
            member.chronic_illness,
        ]
    return [v for v in values if v]


@pytest.mark.parametrize("who", ["anonymous", "other_helper", "other_village_cadre"])
def test_public_scan_view_has_no_personal_data(client, town, login, card, who):
    headers = {}
    if who == "other_helper":
        headers = login(town.other_helper)
    elif who == "other_village_cadre":
        cadre = factories.user_with_role(
            Role.VILLAGE_CADRE, town.other_village, display_name="观音村干部"
        )
        headers = login(cadre)
    resp = scan(client, card.token, headers)
    assert resp.status_code == 200
    assert resp.json == {
        "view": "public",
        "village_name": "石桥村",
        "can_report": True,
        "report_url": BASE + card.token,
        "town_hotline": HOTLINE,
    }
    body = resp.get_data(as_text=True)
    for value in _personal_strings(town):
        assert value not in body, value
    assert actions("pii.read") == []
    scans = actions("card.scanned")
    if who == "anonymous":
        assert scans == []
    else:
        [event] = scans
        assert event.detail == {"card_id": card.id, "view": "public"}


UNMASKED_ROLES = {"helper", "village_cadre", "town_admin", "inspector", "district"}


@pytest.mark.parametrize("role", ROLES)
def test_staff_scan_view_by_role(client, town, login, card, role):
    user = town.users_by_role()[role]
    resp = scan(client, card.token, login(user))
    assert resp.status_code == 200, resp.json
    view = resp.json
    household = town.household
    head, child = household.members
    unmasked = role in UNMASKED_ROLES
    assert view["view"] == "household"
    assert view["unmasked"] is unmasked
    assert view["village_name"] == "石桥村"
    assert view["report_url"] == BASE + card.token
    assert view["card"]["id"] == card.id
    assert view["household"]["id"] == household.id
    assert view["household"]["number"] == household.number
    assert view["household"]["head_name"] == household.head_name
    assert view["household"]["village_name"] == "石桥村"
    assert view["household"]["group_name"] == "一组"
    assert view["household"]["category_label"] == "建档立卡贫困户"
    assert [m["name"] for m in view["members"]] == [head.name, child.name]
    member = view["members"][0]
    if unmasked:
        assert member["id_number"] == head.id_number
        assert member["chronic_illness"] == "高血压"
        assert view["household"]["phone"] == household.phone
    else:
        assert member["id_number"] == mask_id_number(head.id_number)
        assert member["chronic_illness"] == "已登记"
        assert view["household"]["phone"] == mask_phone(household.phone)
        assert head.id_number not in resp.get_data(as_text=True)
    assert view["helper"] == {
        "id": town.helper.id,
        "display_name": "帮扶甲",
        "phone": town.helper.phone,
        "since": "2026-01-01",
    }
    period = utcnow().astimezone(CHINA_TZ).strftime("%Y-%m")
    assert view["due"] == {"period": period, "visit_due": True, "last_visit_at": None}
    assert view["open_items"] == []

    reads = actions("pii.read")
    if unmasked:
        [event] = reads
        assert event.actor_user_id == user.id
        assert event.target_type == "household" and event.target_id == str(household.id)
    else:
        assert reads == []
    [scanned] = actions("card.scanned")
    assert scanned.actor_user_id == user.id
    assert scanned.target_id == str(household.id)
    assert scanned.detail == {"card_id": card.id, "view": "household"}


def test_scan_of_a_household_without_helper(client, town, login):
    household = factories.HouseholdFactory(region=town.group, village=town.village)
    card = factories.CardFactory(household=household)
    resp = scan(client, card.token, login(town.town_admin))
    assert resp.status_code == 200
    assert resp.json["helper"] is None
    assert resp.json["members"] == []
    # An unassigned helper of the same village only gets the public view.
    assert scan(client, card.token, login(town.helper)).json["view"] == "public"


@pytest.mark.parametrize("token", ["NoSuchToken000000000000", "x" * 33, "bad-token!", "%E6%98%8E"])
def test_scan_unknown_token_is_404(client, town, login, token):
    for headers in ({}, login(town.town_admin)):
        resp = scan(client, token, headers)
        assert resp.status_code == 404
        assert resp.json["error"]["code"] == "card.not_found"
        assert resp.json["error"]["message"] == "二维码无效，请核对明白卡。"


# --- /q/<token> ----------------------------------------------------------------------------


def test_public_page_shows_the_village_and_nothing_personal(client, town, card):
    resp = client.get(f"/q/{card.token}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "石桥村" in html
    assert "反映" in html
    assert HOTLINE in html
    assert 'lang="zh-CN"' in html
    for value in _personal_strings(town):
        assert value not in html, value
    # Small and self-contained: no external scripts, styles, fonts or images.
    assert len(resp.data) < 8 * 1024
    for marker in ("<script", "<link", "<img", "src=", "http://", "https://", "@import", "url("):
        assert marker not in html, marker
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_public_page_of_a_replaced_card_is_410_in_chinese(client, town, login, card):
    client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.town_admin)
    )
    resp = client.get(f"/q/{card.token}")
    assert resp.status_code == 410
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "已作废" in html
    assert "石桥村" not in html


def test_public_page_of_an_unknown_card_is_404_in_chinese(client, town):
    resp = client.get("/q/NoSuchToken000000000000")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "没有找到这张明白卡" in resp.get_data(as_text=True)


def test_openapi_documents_the_card_endpoints(client):
    spec = json.loads(client.get("/api/openapi.json").data)
    for path in (
        "/api/v1/households/{household_id}/qr.png",
        "/api/v1/households/{household_id}/card/reissue",
        "/api/v1/villages/{village_id}/cards.pdf",
        "/api/v1/scan/{token}",
    ):
        assert path in spec["paths"], path


# --- races ---------------------------------------------------------------------------------


def test_first_issue_race_uses_the_winners_card(app, town, monkeypatch):
    """Two requests issue the first card at once: the loser's insert fails, it takes the winner's."""
    winner = factories.CardFactory(household=town.household)
    real = cards_service.active_card_of
    calls = []

    def stale_then_real(household_id):
        calls.append(household_id)
        # The first look happened before the winner committed.
        return None if len(calls) == 1 else real(household_id)

    monkeypatch.setattr(cards_service, "active_card_of", stale_then_real)
    card = cards_service.ensure_active_card(household=town.household)
    assert card.id == winner.id
    assert len(calls) == 2
    assert db.session.scalars(select(HouseholdCard)).all() == [winner]


def test_village_issue_falls_back_one_by_one_on_conflict(app, town, monkeypatch, card):
    """A clash in the bulk insert (here a token collision) is retried household by household."""
    extra = factories.HouseholdFactory(region=town.group, village=town.village)
    tokens = iter([card.token, "Fresh0000000000000000001"])
    monkeypatch.setattr(cards_service, "new_card_token", lambda: next(tokens))
    cards = cards_service.ensure_village_cards(
        village_id=town.village.id, households=[town.household, extra]
    )
    assert cards[town.household.id].id == card.id
    assert cards[extra.id].token == "Fresh0000000000000000001"
