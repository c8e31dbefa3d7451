"""Builders for roster files in tests: CSV in any encoding, XLSX with formulas or a 地区 sheet.

Rows are dicts keyed by the service's column keys (``household_number``, ``id_number`` …) and
turned into Chinese headers here, so tests read like the roster a town would send.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook

from backend.services.idnumber import make_id_number
from backend.services.roster_import import REGION_COLUMNS, ROSTER_COLUMNS

HEADER = {c.key: c.header for c in ROSTER_COLUMNS}
REGION_HEADER = {c.key: c.header for c in REGION_COLUMNS}
VILLAGE = ("500151105201", "石桥村")
GROUP = ("500151105201001", "一组")
OTHER_VILLAGE = ("500151105202", "观音村")
GROUP_NAMES = ["一组", "二组", "三组", "四组", "五组", "六组"]
# Test ID numbers use a different area code from the factories', so they never collide.
AREA = "500151"


def fake_id(born: date, sequence: int) -> str:
    """A checksum-valid ID number; odd ``sequence`` → male, even → female."""
    return make_id_number(area=AREA, born=born, sequence=sequence)


def bad_checksum(id_number: str) -> str:
    """The same ID number with a wrong check character."""
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


def row(**values: Any) -> dict[str, Any]:
    """One member row of household HH-T-0001 in 石桥村一组; keyword arguments override."""
    born = values.pop("born", date(1970, 5, 17))
    sequence = values.pop("seq", 11)
    base: dict[str, Any] = {
        "village_code": VILLAGE[0],
        "village_name": VILLAGE[1],
        "group_code": GROUP[0],
        "group_name": GROUP[1],
        "household_number": "HH-T-0001",
        "head_name": "测试户主",
        "address": "石桥村一组测试路1号",
        "phone": "13900000001",
        "lat": "29.81",
        "lon": "106.06",
        "category": "建档立卡贫困户",
        "poverty_status": "已脱贫",
        "monitor_type": "",
        "is_dibao": "否",
        "is_tekun": "否",
        "is_disabled": "否",
        "is_monitored": "否",
        "member_name": "测试户主",
        "relation": "户主",
        "sex": "男" if sequence % 2 else "女",
        "birth_date": born.isoformat(),
        "id_number": fake_id(born, sequence),
        "schooling": "",
        "medical_insurance": "是",
        "serious_illness_insurance": "是",
        "doctor_name": "测试医生",
        "doctor_phone": "13700000009",
        "disability": "",
        "chronic_illness": "",
        "migrant_work": "否",
        "helper_name": "",
        "helper_phone": "",
        "helper_start_date": "",
    }
    base.update(values)
    return base


def household(number: str, *, members: int = 2, first_seq: int = 1, **values: Any) -> list[dict]:
    """A household: its head, then ``members - 1`` children, all with distinct ID numbers."""
    rows = [
        row(
            household_number=number,
            head_name=f"户主{number}",
            member_name=f"户主{number}",
            seq=first_seq,
            **values,
        )
    ]
    for i in range(1, members):
        rows.append(
            row(
                household_number=number,
                head_name=f"户主{number}",
                member_name=f"子女{number}-{i}",
                relation="子女",
                born=date(2000 + i, 1, 1),
                seq=first_seq + i,
                **values,
            )
        )
    return rows


def table(rows: Iterable[dict[str, Any]], keys: Sequence[str] | None = None) -> list[list[Any]]:
    """Header line plus values, in column order (all columns unless ``keys`` says otherwise)."""
    keys = list(keys or HEADER)
    return [[HEADER[k] for k in keys]] + [[r.get(k, "") for k in keys] for r in rows]


def to_csv(
    rows: Iterable[dict[str, Any]],
    *,
    keys: Sequence[str] | None = None,
    encoding: str = "utf-8",
    bom: bool = False,
    lines: list[list[Any]] | None = None,
) -> bytes:
    """A CSV file of ``rows`` (or of raw ``lines``) in ``encoding``, with an optional BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(lines if lines is not None else table(rows, keys))
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def to_xlsx(
    rows: Iterable[dict[str, Any]],
    *,
    keys: Sequence[str] | None = None,
    regions: list[dict[str, Any]] | None = None,
    formulas: dict[tuple[int, str], str] | None = None,
    numbers: dict[tuple[int, str], Any] | None = None,
    sheet_title: str = "花名册",
) -> bytes:
    """An XLSX of ``rows``. ``formulas`` / ``numbers`` put a formula or a typed value at
    (Excel row, column key); ``regions`` adds a 地区 sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title
    lines = table(rows, keys)
    for line in lines:
        sheet.append(line)
    header = lines[0]
    for (excel_row, key), value in {**(formulas or {}), **(numbers or {})}.items():
        sheet.cell(row=excel_row, column=header.index(HEADER[key]) + 1, value=value)
    if regions is not None:
        region_sheet = book.create_sheet("地区")
        region_keys = list(REGION_HEADER)
        region_sheet.append([REGION_HEADER[k] for k in region_keys])
        for region in regions:
            region_sheet.append([region.get(k, "") for k in region_keys])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def big_roster(households: int, *, members: int = 3, helpers: int = 60) -> list[dict[str, Any]]:
    """A roster of ``households`` households in the town's two villages, with helpers."""
    rows: list[dict[str, Any]] = []
    villages = [VILLAGE, OTHER_VILLAGE]
    for i in range(households):
        village = villages[i % 2]
        group_code = f"{village[0]}{(i // 2) % 6 + 1:03d}"
        helper = i % helpers
        born = date(1950 + i % 40, 1 + i % 12, 1 + i % 28)
        for m in range(members):
            sequence = (i * members + m) % 1000
            rows.append(
                row(
                    village_code=village[0],
                    village_name=village[1],
                    group_code=group_code,
                    group_name=GROUP_NAMES[(i // 2) % 6],
                    household_number=f"BIG-{i:05d}",
                    head_name=f"户主{i}",
                    member_name=f"户主{i}" if m == 0 else f"成员{i}-{m}",
                    relation="户主" if m == 0 else "子女",
                    born=born if m == 0 else date(1980 + m, 1 + i % 12, 1 + i % 28),
                    # Vary the area code so that every (area, birth date, sequence) is unique.
                    id_number=make_id_number(
                        area=f"5{i // 1000:02d}{m:03d}",
                        born=born if m == 0 else date(1980 + m, 1 + i % 12, 1 + i % 28),
                        sequence=sequence,
                    ),
                    sex="",
                    birth_date="",
                    helper_name=f"帮扶人{helper}",
                    helper_phone=f"1350000{helper:04d}",
                    helper_start_date="2025-01-01",
                )
            )
    return rows


@dataclass
class XCell:
    """A cell written as Excel writes it: ``inner`` XML, type ``t`` and style index ``s``."""

    inner: str
    t: str | None = None
    s: int | None = None


@dataclass
class Rich:
    """A shared string in rich-text runs, with an optional phonetic guide (rPh)."""

    runs: list[str]
    phonetic: str | None = None


# Style 1: built-in date format 14; style 2: a Chinese custom date; style 3: a number.
_STYLES = (
    '<styleSheet xmlns="{ns}"><numFmts count="2">'
    '<numFmt numFmtId="176" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
    '<numFmt numFmtId="177" formatCode="0.00_ "/></numFmts>'
    '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="176"/>'
    '<xf numFmtId="177"/></cellXfs></styleSheet>'
)
TRANSITIONAL = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def excel_xlsx(
    sheets: dict[str, list[list[Any]]],
    *,
    ns: str = TRANSITIONAL,
    date1904: bool = False,
    with_refs: bool = True,
    row_numbers: list[int] | None = None,
) -> bytes:
    """A workbook as Excel or WPS saves it: shared strings, a styles part, no inline strings.

    Cells are str (a shared string), Rich, int / float, XCell, or None (no cell).
    """
    strings: list[str] = []
    index_of: dict[str, int] = {}

    def shared(item: str | Rich) -> int:
        if isinstance(item, Rich):
            runs = "".join(f"<r><t>{escape(run)}</t></r>" for run in item.runs)
            guide = f"<rPh><t>{escape(item.phonetic)}</t></rPh>" if item.phonetic else ""
            xml = f"<si>{runs}{guide}</si>"
        else:
            xml = f"<si><t>{escape(item)}</t></si>"
        if xml not in index_of:
            index_of[xml] = len(strings)
            strings.append(xml)
        return index_of[xml]

    parts: dict[str, str] = {}
    sheet_entries, rel_entries = [], []
    for n, (name, rows) in enumerate(sheets.items(), start=1):
        xml_rows = []
        for i, row in enumerate(rows):
            number = row_numbers[i] if row_numbers and n == 1 else i + 1
            cells = []
            for c, value in enumerate(row):
                if value is None:
                    continue
                ref = f' r="{_column_letters(c)}{number}"' if with_refs else ""
                if isinstance(value, XCell):
                    t = f' t="{value.t}"' if value.t else ""
                    s = f' s="{value.s}"' if value.s is not None else ""
                    cells.append(f"<c{ref}{t}{s}>{value.inner}</c>")
                elif isinstance(value, str | Rich):
                    cells.append(f'<c{ref} t="s"><v>{shared(value)}</v></c>')
                else:
                    cells.append(f"<c{ref}><v>{value}</v></c>")
            row_ref = f' r="{number}"' if with_refs else ""
            xml_rows.append(f"<row{row_ref}>{''.join(cells)}</row>")
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<worksheet xmlns="{ns}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>'
        )
        sheet_entries.append(f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>')
        rel_entries.append(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        )
    count = len(sheets)
    rel_entries.append(
        f'<Relationship Id="rId{count + 1}" Type="{_REL}/sharedStrings" '
        'Target="sharedStrings.xml"/>'
    )
    rel_entries.append(
        f'<Relationship Id="rId{count + 2}" Type="{_REL}/styles" Target="styles.xml"/>'
    )
    pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    parts["xl/workbook.xml"] = (
        f'<workbook xmlns="{ns}" xmlns:r="{_REL}">{pr}<sheets>{"".join(sheet_entries)}'
        "</sheets></workbook>"
    )
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{_PKG}">{"".join(rel_entries)}</Relationships>'
    )
    parts["xl/sharedStrings.xml"] = f'<sst xmlns="{ns}">{"".join(strings)}</sst>'
    parts["xl/styles.xml"] = _STYLES.format(ns=ns)
    parts["_rels/.rels"] = (
        f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    parts["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in (
            "[Content_Types].xml",
            *sorted(n for n in parts if n != "[Content_Types].xml"),
        ):
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + parts[name])
    return out.getvalue()


_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
