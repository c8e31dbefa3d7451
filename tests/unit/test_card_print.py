"""Card rendering: QR PNG and PDF sheets read back with zxing-cpp and pdfium; card tokens."""

from __future__ import annotations

import io
import string
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from backend.models import Household, Member
from backend.services import card_print
from backend.services.card_print import CardFace, render_cards_pdf, render_qr_png
from backend.services.cards import TOKEN_LENGTH, household_doctor, new_card_token
from tests.pdf_tools import read_pdf

URL = "https://hhq.example.cn/q/AbCdEfGhIjKlMnOpQrStUv12"


def _face(i: int, **kw) -> CardFace:
    values = {
        "url": f"https://hhq.example.cn/q/Tok{i:021d}",
        "village_name": "石桥村",
        "group_name": "一组",
        "head_name": f"王{i}",
        "household_number": f"******{i:04d}",
        "helper_name": "帮扶甲",
        "helper_phone": "13600000001",
        "doctor_name": "李医生",
        "doctor_phone": "13700000000",
    }
    values.update(kw)
    return CardFace(**values)


@pytest.fixture(scope="module")
def font_path() -> str:
    return card_print.resolve_font_path(None)


def test_new_card_token_is_base62_and_long_enough():
    tokens = {new_card_token() for _ in range(200)}
    assert len(tokens) == 200
    alphabet = set(string.ascii_letters + string.digits)
    for token in tokens:
        assert len(token) == TOKEN_LENGTH <= 32
        assert set(token) <= alphabet
    # 62^24 > 2^128: at least 128 random bits, as a WeChat scene allows up to 32 characters.
    assert 62**TOKEN_LENGTH > 2**128


def test_qr_png_decodes_to_the_url():
    png = render_qr_png(URL)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    [result] = zxingcpp.read_barcodes(image)
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    assert result.text == URL


def test_qr_matrix_has_a_quiet_zone():
    matrix = card_print.qr_matrix(URL)
    n = len(matrix)
    for i in range(card_print.QUIET_ZONE):
        assert not any(matrix[i]) and not any(matrix[n - 1 - i])
        assert not any(row[i] or row[n - 1 - i] for row in matrix)


def test_packaged_font_is_noto_sans_cjk(font_path):
    assert Path(font_path).name == "NotoSansCJKtc-Regular.otf"


def test_configured_font_path_wins_and_must_exist(tmp_path, font_path):
    assert card_print.resolve_font_path(font_path) == font_path
    with pytest.raises(FileNotFoundError):
        card_print.resolve_font_path(str(tmp_path / "missing.otf"))


def test_pdf_pages_hold_eight_decodable_cards_with_chinese_text(font_path):
    faces = [_face(i) for i in range(11)]
    faces[1] = _face(1, doctor_name=None, doctor_phone=None)
    faces[2] = _face(2, helper_name=None, helper_phone=None, group_name=None)
    pdf = render_cards_pdf(faces, hotline="023-45600000", font_path=font_path)
    images, texts = read_pdf(pdf)
    assert len(images) == 2
    decoded = [[r.text for r in zxingcpp.read_barcodes(image)] for image in images]
    assert len(decoded[0]) == 8 and len(decoded[1]) == 3
    assert sorted(url for page in decoded for url in page) == sorted(f.url for f in faces)
    text = "".join(texts)
    for expected in ("户户清 明白卡", "石桥村 一组", "王10", "******0007", "未签约", "待安排"):
        assert expected in text, expected
    assert text.count("023-45600000") == 11


def test_long_values_are_shrunk_or_cut_not_spilled(font_path):
    long_name = "欧阳" + "很长的名字" * 12
    pdf = render_cards_pdf([_face(0, head_name=long_name)], hotline="1", font_path=font_path)
    images, texts = read_pdf(pdf)
    assert "欧阳很长的名字" in texts[0]
    assert "…" in texts[0]
    assert long_name not in texts[0]
    [result] = zxingcpp.read_barcodes(images[0])
    assert result.text == _face(0).url


def test_empty_sheet_says_so(font_path):
    _, texts = read_pdf(render_cards_pdf([], hotline="1", font_path=font_path))
    assert texts == ["本村暂无农户，没有可打印的明白卡。"]


def _member(relation: str, doctor: str | None) -> Member:
    return Member(
        name="某",
        relation=relation,
        sex="M",
        birth_date=date(1970, 1, 1),
        id_number="x",
        doctor_name=doctor,
    )


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("子女", "乙医生"), ("户主", "甲医生")], "甲医生"),
        ([("户主", None), ("配偶", None), ("子女", "乙医生")], "乙医生"),
        ([("户主", None), ("子女", None)], None),
        ([], None),
    ],
)
def test_household_doctor_prefers_the_head(members, expected):
    household = Household(members=[_member(r, d) for r, d in members])
    doctor = household_doctor(household)
    assert (doctor.doctor_name if doctor else None) == expected
