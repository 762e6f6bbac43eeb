"""The printed board: one A3 page (297 × 420 mm, more pages only for a long list of names).

:func:`layout` turns an edition's content into drawing operations (pure, no PDF); :func:`render`
draws them with fpdf2 in a font holding exactly the characters used (:mod:`ctown.noticeboard.font`)
— the operations name every character before anything is drawn. The text is Chinese, as a board on
a village wall is; the footer carries the content digest (on the ledger) and the time built, in
Beijing time.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ctown.access.rules import local_time
from ctown.farmer.words import yuan
from ctown.i18n import _, translate
from ctown.noticeboard import font as fonts

WIDTH, HEIGHT, MARGIN = 297.0, 420.0, 16.0
INK, BRAND, MUTED, BAR = (20, 20, 20), (176, 24, 32), (96, 96, 96), (196, 48, 43)
#: The list of named households: columns, row height (mm), rows on a continuation page.
COLUMNS, ROW, ROWS_MORE = 5, 7.5, 46
#: Top of the objection box at the foot of the first page.
OBJECTION_TOP = HEIGHT - MARGIN - 66
LEVEL_COLOURS = {"A": (27, 122, 62), "B": (53, 110, 170), "C": (190, 140, 20),
                 "D": (200, 100, 40), "E": (160, 40, 40)}


@dataclass(frozen=True)
class Op:
    """One drawing operation in millimetres: text at a point, a wrapped paragraph, a box."""

    kind: Literal["text", "para", "box", "page"]
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    text: str = ""
    size: float = 12.0
    colour: tuple[int, int, int] = INK
    align: Literal["L", "C", "R"] = "L"


def t(msgid: str, **params: Any) -> str:
    """The board's words: Chinese (a board is printed in the county's language)."""
    return translate(msgid, "zh_Hans", **params)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def layout(body: dict[str, Any], *, built_at: dt.datetime, content_sha256: str) -> list[Op]:
    ops: list[Op] = [Op("page")]
    ops += _header(body)
    y = _grades(ops, body, 78.0)
    y = _figures(ops, body, y + 8)
    ops += _objection(body)
    ops += _footer(built_at, content_sha256)
    _names(ops, body, y + 8)  # last: a long list goes on to further pages
    return ops


def _header(body: dict[str, Any]) -> list[Op]:
    v = body["village"]
    place = "".join(p for p in (v["county"], v["township"], v["name"]) if p)
    return [Op("box", 0, 0, WIDTH, 12, colour=BRAND),
            Op("text", 0, 22, WIDTH, 24, t(_("信用公示栏")), 56, BRAND, "C"),
            Op("text", 0, 50, WIDTH, 12, place, 26, INK, "C"),
            Op("text", 0, 63, WIDTH, 8, t(_("{period} 期 · 公示日期 {day}"), period=body["period"],
                                          day=body["published_on"]), 15, MUTED, "C")]


def _section(ops: list[Op], title: str, y: float) -> float:
    ops.append(Op("box", MARGIN, y, 4, 9, colour=BRAND))
    ops.append(Op("text", MARGIN + 7, y, 200, 9, title, 20, INK))
    return y + 13


def _grades(ops: list[Op], body: dict[str, Any], y: float) -> float:
    y = _section(ops, t(_("信用等级分布（五级十档）")), y)
    rows = body["grades"]
    top = max((r["households"] for r in rows), default=0) or 1
    bar_x, bar_w = MARGIN + 58, WIDTH - 2 * MARGIN - 58 - 40
    for r in rows:
        ops.append(Op("text", MARGIN, y, 55, 7, f"{r['grade']}  {r['name']}", 14))
        width = bar_w * r["households"] / top
        if width > 0:
            ops.append(Op("box", bar_x, y + 1, width, 5.5,
                          colour=LEVEL_COLOURS.get(r["grade"][0], BAR)))
        ops.append(Op("text", WIDTH - MARGIN - 38, y, 38, 7,
                      t(_("{n} 户 · {share}"), n=r["households"], share=_pct(r["share"])), 13,
                      INK, "R"))
        y += 8
    ops.append(Op("text", MARGIN, y, 200, 7, t(_("尚未评级：{n} 户"), n=body["ungraded"]), 13, MUTED))
    return y + 8


def _figures(ops: list[Op], body: dict[str, Any], y: float) -> float:
    y = _section(ops, t(_("本村信用数据")), y)
    f = body["figures"]
    grant = f["grant"]
    items = [
        (t(_("农户数")), t(_("{n} 户"), n=f["households"])),
        (t(_("已建信用档案")), t(_("{n} 户"), n=f["files"])),
        (t(_("已评级农户")), t(_("{n} 户（{share}）"), n=f["graded"], share=_pct(f["graded_share"]))),
        (t(_("信用贷款占比")), _pct(f["credit_loan_share"])),
        (t(_("整村授信")), t(_("{granted}/{households} 户获预授信，合计 {total}"),
                        granted=grant["granted"], households=grant["households"],
                        total=yuan(Decimal(grant["total_limit"]))) if grant else t(_("尚未开展"))),
        (t(_("数据采集完整率")), _pct(f["completeness"])),
    ]
    col_w = (WIDTH - 2 * MARGIN) / 2
    for i, (label, value) in enumerate(items):
        x, row_y = MARGIN + (i % 2) * col_w, y + (i // 2) * 17
        ops.append(Op("box", x, row_y, col_w - 4, 15, colour=(244, 240, 236)))
        ops.append(Op("text", x + 3, row_y + 1, col_w - 10, 6, label, 11, MUTED))
        ops.append(Op("text", x + 3, row_y + 7, col_w - 10, 7, value, 15))
    return y + 3 * 17


def _names(ops: list[Op], body: dict[str, Any], y: float) -> None:
    y = _section(ops, t(_("信用农户名单（经本人单独同意公示）")), y)
    people = body["named"]
    if not people:
        ops.append(Op("text", MARGIN, y, 200, 7, t(_("本期没有农户同意公示姓名。")), 13, MUTED))
        return
    col_w = (WIDTH - 2 * MARGIN) / COLUMNS
    rows, start, top = max(int((OBJECTION_TOP - 4 - y) / ROW), 1), 0, y
    while start < len(people):
        chunk = people[start:start + rows * COLUMNS]
        for i, p in enumerate(chunk):
            x, row_y = MARGIN + (i // rows) * col_w, top + (i % rows) * ROW
            ops.append(Op("text", x, row_y, col_w - 20, 7, p["name"], 14))
            ops.append(Op("text", x + col_w - 22, row_y, 16, 7, p["grade"], 14,
                          LEVEL_COLOURS.get(p["grade"][0], INK), "R"))
        start += len(chunk)
        if start < len(people):
            ops.append(Op("page"))
            rows, top = ROWS_MORE, MARGIN + 16
            ops.append(Op("text", MARGIN, MARGIN, 260, 9,
                          t(_("信用农户名单（续）")), 18))


def _objection(body: dict[str, Any]) -> list[Op]:
    c = body["contact"]
    sms = t(_("发送短信“{kw} + 内容”到 {number}"), kw=c["sms_keyword"], number=c["sms_number"]) \
        if c["sms_number"] else t(_("发送短信“{kw} + 内容”到县信用服务中心短信号码"), kw=c["sms_keyword"])
    lines = t(_(
        "公示期 {day} 至 {until}（{days} 天）。对公示内容有异议的，请在此期间提出：\n"
        "1. 到村信用服务点（村委会）找村信用信息员；\n"
        "2. 用手机打开信用乡平台 {page}，在“我的信用”中提出异议；\n"
        "3. {sms}。\n"
        "异议按《征信业管理条例》第二十五条处理，20 日内书面答复。"
        "只公示经本人单独同意的农户（个人信息保护法第二十五条），姓名脱敏，不公示身份证号、分数或明细。"),
        day=body["published_on"], until=body["objection_until"], days=body["objection_days"],
        page=c["page"], sms=sms)
    top = OBJECTION_TOP
    return [Op("box", MARGIN, top - 2, WIDTH - 2 * MARGIN, 56, colour=(252, 246, 230)),
            Op("text", MARGIN + 4, top, 200, 9, t(_("异议期与异议方式")), 18, BRAND),
            Op("para", MARGIN + 4, top + 10, WIDTH - 2 * MARGIN - 8, 6.2, lines, 12.5)]


def _footer(built_at: dt.datetime, content_sha256: str) -> list[Op]:
    built = local_time(built_at).strftime("%Y-%m-%d %H:%M")
    return [Op("text", MARGIN, HEIGHT - MARGIN - 6, WIDTH - 2 * MARGIN, 5,
               t(_("本期摘要 {digest} · 生成时间 {built}（北京时间） · 信用乡平台存证，可核验"),
                 digest=content_sha256, built=built), 8.5, MUTED)]


def characters(ops: list[Op]) -> set[str]:
    return {c for op in ops for c in op.text if c not in "\n"}


def render(body: dict[str, Any], *, built_at: dt.datetime, content_sha256: str,
           source: fonts.SourceFont | None = None) -> bytes:
    """The edition's PDF: A3, Chinese in an embedded subset of Noto Sans CJK SC."""
    ops = layout(body, built_at=built_at, content_sha256=content_sha256)
    return draw(ops, source or fonts.source_font())


def draw(ops: list[Op], source: fonts.SourceFont) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A3")
    pdf.set_auto_page_break(False)
    pdf.set_creator("ctown noticeboard")
    pdf.set_title("信用公示栏")
    with tempfile.TemporaryDirectory(prefix="ctown-notice-") as tmp:
        path = Path(tmp) / "notice.ttf"  # fpdf2 reads a font from a file
        path.write_bytes(fonts.subset_ttf(source, characters(ops)))
        pdf.add_font(fonts.FAMILY, fname=str(path))
        for op in ops:
            _draw(pdf, op)
        return bytes(pdf.output())


def _draw(pdf: Any, op: Op) -> None:
    if op.kind == "page":
        pdf.add_page()
        pdf.set_font(fonts.FAMILY, size=12)
        return
    if op.kind == "box":
        pdf.set_fill_color(*op.colour)
        pdf.rect(op.x, op.y, op.w, op.h, style="F")
        return
    pdf.set_font(fonts.FAMILY, size=op.size)
    pdf.set_text_color(*op.colour)
    pdf.set_xy(op.x, op.y)
    if op.kind == "para":
        pdf.multi_cell(op.w, op.h, op.text)
    else:
        pdf.cell(op.w, op.h, op.text, align=op.align)
