"""Rendering of household cards (明白卡): the QR code as PNG, and A4 sheets of cards as PDF.

Pure rendering: callers pass in what each card shows, already authorised and masked.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import qrcode
from fpdf import FPDF
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

CARD_TITLE = "户户清 明白卡"
NO_DOCTOR = "未签约"
NO_HELPER = "待安排"
CARD_FOOTER = "家中有困难、有问题，请扫码或拨打热线反映"
QR_CAPTION = "扫码反映问题"

# The standard quiet zone of a QR code is four modules on every side.
QUIET_ZONE = 4

# A4 in millimetres, 2 × 4 cards of 95 × 69.25 mm inside a 10 mm margin that printers can reach.
PAGE_W, PAGE_H = 210.0, 297.0
PAGE_MARGIN = 10.0
COLS, ROWS = 2, 4
CARDS_PER_PAGE = COLS * ROWS
CARD_W = (PAGE_W - 2 * PAGE_MARGIN) / COLS
CARD_H = (PAGE_H - 2 * PAGE_MARGIN) / ROWS
QR_SIZE = 40.0

_FONT = "cjk"
_HEADER_RGB = (178, 34, 34)
_LABEL_GREY = 90
_CUT_GREY = 160


@dataclass(frozen=True)
class CardFace:
    """What one printed card shows; personal data is already masked by the caller."""

    url: str
    village_name: str
    group_name: str | None
    head_name: str
    household_number: str
    helper_name: str | None
    helper_phone: str | None
    doctor_name: str | None
    doctor_phone: str | None


def default_font_path() -> str:
    """Path of Noto Sans CJK shipped by the PyPI package ``cvttf-notosanscjk-regular``."""
    import cvttf_NotoSansCJK_Regular

    return cvttf_NotoSansCJK_Regular.get_TTF_path()


def resolve_font_path(configured: str | None) -> str:
    """The CJK font to embed: ``CARD_FONT_PATH`` when set, else the packaged Noto Sans CJK."""
    path = configured or default_font_path()
    if not Path(path).is_file():
        raise FileNotFoundError(f"card font not found: {path}")
    return path


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR modules for ``url`` (True is dark), including the quiet zone."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def render_qr_png(url: str, *, box_size: int = 10) -> bytes:
    """A black-on-white PNG of the QR code for ``url``, built in memory."""
    matrix = qr_matrix(url)
    n = len(matrix)
    image = Image.new("1", (n, n), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    image = image.resize((n * box_size, n * box_size), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_cards_pdf(
    cards: Sequence[CardFace], *, hotline: str, font_path: str, title: str = CARD_TITLE
) -> bytes:
    """A4 pages of printable cards, eight per page, with dashed cut lines."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    # Parsing the 16 MB CJK font is the slow part: add it once per document.
    pdf.add_font(_FONT, fname=font_path)
    pdf.set_title(title)
    pdf.set_creator("户户清")
    pdf.set_lang("zh-CN")
    if not cards:
        pdf.add_page()
        pdf.set_font(_FONT, size=14)
        pdf.set_xy(PAGE_MARGIN, PAGE_MARGIN)
        pdf.cell(PAGE_W - 2 * PAGE_MARGIN, 10, "本村暂无农户，没有可打印的明白卡。")
        return bytes(pdf.output())
    for index, card in enumerate(cards):
        slot = index % CARDS_PER_PAGE
        if slot == 0:
            pdf.add_page()
            _draw_cut_lines(pdf, min(CARDS_PER_PAGE, len(cards) - index))
        x = PAGE_MARGIN + (slot % COLS) * CARD_W
        y = PAGE_MARGIN + (slot // COLS) * CARD_H
        _draw_card(pdf, card, x, y, hotline)
    return bytes(pdf.output())


def _draw_cut_lines(pdf: FPDF, count: int) -> None:
    rows = (count + COLS - 1) // COLS
    pdf.set_draw_color(_CUT_GREY)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    bottom = PAGE_MARGIN + rows * CARD_H
    for r in range(rows + 1):
        y = PAGE_MARGIN + r * CARD_H
        pdf.line(PAGE_MARGIN, y, PAGE_W - PAGE_MARGIN, y)
    for c in range(COLS + 1):
        x = PAGE_MARGIN + c * CARD_W
        pdf.line(x, PAGE_MARGIN, x, bottom)
    pdf.set_dash_pattern()


def _draw_card(pdf: FPDF, card: CardFace, x: float, y: float, hotline: str) -> None:
    # Header band with the title.
    pdf.set_fill_color(*_HEADER_RGB)
    pdf.rect(x + 3, y + 3, CARD_W - 6, 9, style="F")
    pdf.set_text_color(255)
    pdf.set_font(_FONT, size=13)
    pdf.set_xy(x + 3, y + 3)
    pdf.cell(CARD_W - 6, 9, CARD_TITLE, align="C")

    qr_x, qr_y = x + 2, y + 13
    _draw_qr(pdf, qr_matrix(card.url), qr_x, qr_y, QR_SIZE)
    pdf.set_text_color(0)
    pdf.set_font(_FONT, size=8)
    pdf.set_xy(qr_x, qr_y + QR_SIZE - 1)
    pdf.cell(QR_SIZE, 4, QR_CAPTION, align="C")

    text_x = qr_x + QR_SIZE + 1
    text_w = x + CARD_W - 3 - text_x
    place = " ".join(p for p in (card.village_name, card.group_name) if p)
    line_y = y + 14.5
    pdf.set_font(_FONT, size=11)
    pdf.set_xy(text_x, line_y)
    pdf.cell(text_w, 6, _fit(pdf, place, text_w, 11))
    line_y += 7
    lines = [
        ("户主", card.head_name),
        ("户号", card.household_number),
        ("帮扶责任人", card.helper_name or NO_HELPER),
        ("联系电话", card.helper_phone or "—"),
        ("家庭医生", card.doctor_name or NO_DOCTOR),
    ]
    if card.doctor_name:
        lines.append(("医生电话", card.doctor_phone or "—"))
    lines.append(("镇扶贫热线", hotline))
    for label, value in lines:
        _labelled_line(pdf, text_x, line_y, text_w, label, value)
        line_y += 5.2

    pdf.set_text_color(_LABEL_GREY)
    pdf.set_font(_FONT, size=7.5)
    pdf.set_xy(x + 3, y + CARD_H - 9)
    pdf.cell(CARD_W - 6, 5, _fit(pdf, CARD_FOOTER, CARD_W - 6, 7.5), align="C")
    pdf.set_text_color(0)


def _labelled_line(pdf: FPDF, x: float, y: float, w: float, label: str, value: str) -> None:
    pdf.set_font(_FONT, size=8.5)
    label_text = f"{label}："
    label_w = pdf.get_string_width(label_text)
    pdf.set_text_color(_LABEL_GREY)
    pdf.set_xy(x, y)
    pdf.cell(label_w, 5, label_text)
    pdf.set_text_color(0)
    pdf.set_xy(x + label_w, y)
    pdf.cell(w - label_w, 5, _fit(pdf, value, w - label_w, 9))


def _fit(pdf: FPDF, text: str, width: float, size: float, min_size: float = 6.0) -> str:
    """Shrink the current font until ``text`` fits ``width``; cut it with … as a last resort."""
    while size > min_size:
        pdf.set_font_size(size)
        if pdf.get_string_width(text) <= width:
            return text
        size -= 0.5
    pdf.set_font_size(min_size)
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _draw_qr(pdf: FPDF, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """Draw the QR as vectors: crisp at any printer resolution, and no image to encode."""
    module = size / len(matrix)
    pdf.set_fill_color(0)
    for r, row in enumerate(matrix):
        c, n = 0, len(row)
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")
