"""The villagers' mobile web page: the report form at /q/<token>, the receipt at /r/<code>."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Photo, Report
from tests import factories
from tests.integration.test_cards import _personal_strings
from tests.integration.test_photos import make_jpeg
from tests.integration.test_reports import (
    CLOSED_TIMELINE,
    problem_of,
    report_row,
    walk_to_closed,
)

TEXT = "家里的自来水已经停了三天，挑水要走很远。"
HOTLINE = "023-45600000"
# Nothing that would load from elsewhere, run a script or need a framework.
FORBIDDEN_MARKUP = ("<script", "<link", "<img", "src=", "http://", "https://", "@import", "url(")


@pytest.fixture
def card(town):
    """The active card of the standard household."""
    return factories.CardFactory(household=town.household)


def form_page(client, card) -> str:
    """GET the card page and return its HTML."""
    response = client.get(f"/q/{card.token}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def hidden_uuid(html: str) -> str:
    """The submission id the form carries."""
    return re.search(r'name="client_uuid" value="([0-9a-f-]{36})"', html).group(1)


def submit(client, card, *, photos=(), ip="10.0.0.1", token=None, **fields):
    """POST the form as a browser does: multipart, the photos in the repeated field ``photos``."""
    data = {"description": TEXT, "area": "water", "client_uuid": str(uuid.uuid4()), **fields}
    data["photos"] = [(io.BytesIO(content), f"IMG_{n}.jpg") for n, content in enumerate(photos)]
    if not photos:  # what a browser sends when no file was chosen
        data["photos"] = [(io.BytesIO(b""), "")]
    return client.post(
        f"/q/{token or card.token}",
        data=data,
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": ip},
    )


def receipt_code_of(response) -> str:
    """The receipt code a successful submission redirects to."""
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.fullmatch(r"/r/([2-9A-HJ-NP-Z]{10})", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def assert_page(response, status: int) -> str:
    """A public page: HTML in Chinese, kept out of caches, referrers and indexes."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    for marker in FORBIDDEN_MARKUP:
        assert marker not in html, marker
    return html


# --- the form ---------------------------------------------------------------------------------


def test_the_card_page_is_a_small_plain_report_form(client, town, card):
    response = client.get(f"/q/{card.token}")
    html = assert_page(response, 200)
    assert len(response.data) < 8 * 1024
    assert "石桥村" in html and "反映" in html and HOTLINE in html
    assert f'<form class="box" method="post" action="/q/{card.token}" ' in html
    assert 'enctype="multipart/form-data"' in html
    assert (
        '<input id="photos" type="file" name="photos" accept="image/*" '
        'capture="environment" multiple>'
    ) in html
    assert '<option value="water">饮水安全</option>' in html
    assert '<option value="other" selected>其他</option>' in html
    assert 'maxlength="500"' in html
    assert uuid.UUID(hidden_uuid(html))
    assert 'action="/r"' in html  # follow a report by its receipt code
    for value in _personal_strings(town):
        assert value not in html, value


def test_each_visit_of_the_form_gets_a_new_submission_id(client, card):
    assert hidden_uuid(form_page(client, card)) != hidden_uuid(form_page(client, card))


def test_the_form_stores_photos_and_report_and_redirects_to_the_receipt(client, town, card):
    response = submit(client, card, photos=[make_jpeg(1), make_jpeg(2)])
    code = receipt_code_of(response)
    report = report_row(code)
    assert (report.channel, report.area, report.description) == ("web", "water", TEXT)
    assert report.reporter_openid is None
    photos = list(db.session.scalars(select(Photo).order_by(Photo.id)))
    assert [p.id for p in photos] == report.photo_ids
    assert {(p.card_id, p.uploader_id, p.problem_id) for p in photos} == {
        (card.id, None, report.problem_id)
    }
    problem = problem_of(code)
    assert (problem.source, problem.status, problem.office_code) == (
        "villager_report",
        "reported",
        "nyfw",
    )

    page = client.get(response.headers["Location"])
    html = assert_page(page, 200)
    assert code in html
    assert "已反映" in html and "饮水安全" in html and "已提交反映" in html
    for value in _personal_strings(town):
        assert value not in html, value
    assert TEXT not in html  # the text itself stays with the staff


def test_a_resubmitted_form_is_the_same_report(client, card):
    client_uuid = str(uuid.uuid4())
    first = receipt_code_of(submit(client, card, photos=[make_jpeg(3)], client_uuid=client_uuid))
    again = receipt_code_of(submit(client, card, photos=[make_jpeg(3)], client_uuid=client_uuid))
    assert again == first
    assert db.session.scalar(select(func.count(Report.id))) == 1
    assert db.session.scalar(select(func.count(Photo.id))) == 1


def test_a_form_without_text_comes_back_with_the_error_in_chinese(client, card):
    client_uuid = str(uuid.uuid4())
    response = submit(client, card, description="  ", area="housing", client_uuid=client_uuid)
    html = assert_page(response, 422)
    assert "问题描述：请写下您要反映的问题。" in html
    assert '<option value="housing" selected>住房安全</option>' in html
    assert hidden_uuid(html) == client_uuid  # a corrected resubmission is still one report
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_a_bad_photo_names_the_photo_and_keeps_the_text(client, card):
    response = submit(client, card, photos=[make_jpeg(4), b"this is not a picture at all"])
    html = assert_page(response, 415)
    assert "第 2 张照片：文件不是图片，请上传 JPEG、PNG 或 WebP 格式的照片。" in html
    assert TEXT in html
    assert db.session.scalar(select(func.count(Photo.id))) == 0  # the whole form rolled back


def test_too_many_photos_are_refused(client, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_MAX_PHOTOS", 1)
    response = submit(client, card, photos=[make_jpeg(5), make_jpeg(6)])
    html = assert_page(response, 422)
    assert "照片：最多上传 1 张照片。" in html


def test_a_form_larger_than_the_request_limit_gets_a_chinese_413_page(
    client, card, app, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 20_000)
    response = submit(client, card, photos=[make_jpeg(8, (1600, 1200))])
    html = assert_page(response, 413)
    assert "照片总大小超过上限，请少选几张或拍得小一些后重新提交。" in html
    assert "石桥村" in html  # the form is shown again
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_refused_content_shows_the_reason(client, card):
    response = submit(client, card, description="六合彩内部资料")
    html = assert_page(response, 422)
    assert "反映内容未通过内容安全检查（违法犯罪），请修改后重新提交。" in html
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_held_content_gets_a_receipt_that_says_so(client, card):
    code = receipt_code_of(submit(client, card, description="有人上门说能代开发票"))
    html = assert_page(client.get(f"/r/{code}"), 200)
    assert "已收到，待审核" in html
    assert report_row(code).problem_id is None


def test_unknown_and_replaced_cards_get_chinese_pages(client, town, login, card):
    unknown = submit(client, card, token="NoSuchToken000000000000")
    assert "没有找到这张明白卡" in assert_page(unknown, 404)
    client.post(
        f"/api/v1/households/{town.household.id}/card/reissue", headers=login(town.town_admin)
    )
    replaced = submit(client, card)
    html = assert_page(replaced, 410)
    assert "已作废" in html and "石桥村" not in html
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_a_flood_of_forms_gets_a_429_page_in_chinese(client, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "2 per hour")
    for _ in range(2):
        receipt_code_of(submit(client, card))
    response = submit(client, card)
    html = assert_page(response, 429)
    assert "提交过于频繁，请约 60 分钟后再试；如有急事，请拨打镇扶贫办热线 023-45600000。" in html
    assert int(response.headers["Retry-After"]) > 0
    assert db.session.scalar(select(func.count(Report.id))) == 2


def test_the_form_and_the_api_share_the_cards_allowance(client, card, app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_RATE_LIMIT_PER_CARD", "1 per hour")
    receipt_code_of(submit(client, card))
    api = client.post("/api/v1/reports", json={"card_token": card.token, "description": TEXT})
    assert api.status_code == 429
    assert api.get_json()["error"]["code"] == "request.rate_limited"


# --- the receipt ------------------------------------------------------------------------------


def test_receipt_lookup_by_code(client, card):
    code = receipt_code_of(submit(client, card))
    found = client.get(f"/r?code={code.lower()[:5]}-{code.lower()[5:]}")
    assert found.status_code == 303
    assert found.headers["Location"] == f"/r/{code}"
    lookup = assert_page(client.get("/r"), 200)
    assert 'name="code"' in lookup
    malformed = assert_page(client.get("/r?code=12345"), 404)
    assert "回执码是 10 位字母和数字，请核对后重新输入。" in malformed
    unknown = assert_page(client.get("/r/ABCDEFGHJK"), 404)
    assert "没有找到这条反映，请核对回执码。" in unknown


def test_the_whole_loop_from_the_web_form_to_closed(client, login, town, card):
    code = receipt_code_of(submit(client, card, photos=[make_jpeg(7)]))
    walk_to_closed(client, login, town, problem_of(code).id)
    html = assert_page(client.get(f"/r/{code}"), 200)
    assert "<h1>已销号</h1>" in html
    steps = re.findall(r"<li>[0-9-]+ [0-9:]+ (.+?)</li>", html)
    assert steps == CLOSED_TIMELINE
    # Notes, people and offices stay with the staff.
    for value in ["13900001111", "入户核实属实", "农服中心", "村干部", *_personal_strings(town)]:
        assert value not in html, value
