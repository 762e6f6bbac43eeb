"""Readers and normalisers without a database: encodings, layouts, Excel quirks, Chinese dates."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from ctown.ingest import normalise as nz
from ctown.ingest.readers import INVALID, ROW, describe, iter_chunks
from test_ingest_support import HEAD1

HEADER = "姓名,身份证号,面积（亩）\n"
BODY = f"张三,{HEAD1},"


def _rows(path: Path, known: set[str] | None = None) -> pl.DataFrame:
    info = describe(path)
    return pl.concat([c.frame for c in iter_chunks(info, known)], how="diagonal_relaxed")


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
    ("gb2312", "gb18030")])
def test_csv_encodings(tmp_path: Path, encoding: str, expected: str) -> None:
    text = HEADER + "".join(f"{BODY}{i}.5\n" for i in range(50)) + "䶮四,1,2\n" * (
        encoding == "gb18030")
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    assert describe(path).encoding == expected
    frame = _rows(path)
    assert frame.columns[1:] == ["姓名", "身份证号", "面积（亩）"]
    assert frame["姓名"][0] == "张三" and frame[ROW][0] == 2
    assert frame.height == 50 + (encoding == "gb18030")


def test_csv_title_rows_blank_lines_and_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("2025年农户信息表\n\n" + HEADER + f"{BODY}1\n,,\n\n李四,{HEAD1}\n王五,1,2,3\n",
                    encoding="utf-8")
    frame = _rows(path, {"姓名", "身份证号"})
    good = frame.filter(pl.col(INVALID).is_null())
    assert good["姓名"].to_list() == ["张三"] and good[ROW].to_list() == [4]
    bad = frame.filter(pl.col(INVALID).is_not_null())[INVALID].to_list()
    assert bad == [f"李四,{HEAD1}", "王五,1,2,3"]  # quarantined later, never dropped


def test_xlsx_numbers_dates_and_excel_ids(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("数据")
    sheet.write_row(0, 0, ["说明：本表由村填报"])
    sheet.write_row(1, 0, ["姓名", "身份证号", "面积（亩）", "日期"])
    sheet.write_row(2, 0, ["张三", HEAD1, 3, 2.5])
    sheet.write_number(3, 1, 110105199001011232)      # typed as a number: digits are lost
    sheet.write_string(3, 0, "李四")
    sheet.write_datetime(3, 3, dt.datetime(2025, 5, 1), book.add_format({"num_format": "yyyy-mm-dd"}))
    book.close()
    frame = _rows(path, {"姓名", "身份证号"})
    assert frame["姓名"].to_list() == ["张三", "李四"]
    assert frame[ROW].to_list() == [3, 4]
    assert frame["面积（亩）"][0] == "3" and frame["日期"][1] == "2025-05-01"
    assert "E+17" in frame["身份证号"][1].upper()
    ids = nz.parse_identifiers(frame["身份证号"], "resident_id")
    assert ids.values.to_list() == [HEAD1, None]
    assert "科学计数法" in ids.messages[frame["身份证号"][1]].render()


@pytest.mark.parametrize("layout", ["array", "lines", "wrapped"])
def test_json_layouts(tmp_path: Path, layout: str) -> None:
    rows = [{"姓名": "张三", "身份证号": HEAD1, "面积": 1.5}, {"姓名": "李四", "面积": 2}, [1, 2]]
    path = tmp_path / "f.json"
    if layout == "array":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif layout == "lines":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                        encoding="utf-8")
    else:
        path.write_text(json.dumps({"batch": "x", "rows": rows}, ensure_ascii=False),
                        encoding="utf-8")
    frame = _rows(path)
    assert frame["姓名"].to_list()[:2] == ["张三", "李四"]
    assert frame["面积"].to_list()[:2] == ["1.5", "2"]
    assert frame[INVALID].to_list()[2] == "[1, 2]"
    assert frame[ROW].to_list() == [1, 2, 3]


def test_dates() -> None:
    raw = pl.Series(["2023年5月1日", "2023/5/1", "2023-05-01", "20230501", "45047",
                     "２０２３年５月１日", "2023-05-01 08:30:00", "2023-02-30", "下月", None])
    parsed = nz.parse_date(raw)
    may1 = dt.date(2023, 5, 1)
    assert parsed.values.to_list() == [may1] * 7 + [None, None, None]
    assert parsed.bad.to_list() == [False] * 7 + [True, True, False]


def test_numbers_bools_codes() -> None:
    n = nz.parse_number(pl.Series(["1,234.50", "１２３", " 12 ", "1,2", "12元", None]))
    assert n.values.to_list() == [1234.5, 123.0, 12.0, None, None, None]
    assert n.bad.to_list() == [False, False, False, True, True, False]
    assert nz.parse_number(pl.Series(["2.5"]), integer=True).bad.to_list() == [True]
    b = nz.parse_bool(pl.Series(["是", "否", "Y", "已发证", "也许"]), {"已发证": "1"})
    assert b.values.to_list() == [1.0, 0.0, 1.0, 1.0, None] and b.bad.to_list()[-1]
    c = nz.parse_code(pl.Series(["正常", "２", "损失", "不详"]), {"正常": "1"}, {"1", "2", "5"},
                      {"损失": "5"})
    assert c.values.to_list() == ["1", "2", "5", None] and c.bad.to_list() == [False] * 3 + [True]


def test_identifiers_fast_path_matches_registry() -> None:
    from ctown.registry.identifiers import IdentifierError, parse_resident_id

    samples = [HEAD1, HEAD1.lower(), f" {HEAD1} ", "'" + HEAD1, HEAD1[:17] + "0", "1.10105E+17",
               "110105199001011230", "123", "330521197002301231", "990521197001011234",
               "33052170010112", "330521700101123", "１" + HEAD1[1:]]
    parsed = nz.parse_identifiers(pl.Series(samples), "resident_id")
    for raw, got in zip(samples, parsed.values.to_list(), strict=True):
        try:
            want: str | None = parse_resident_id(raw).value
        except IdentifierError:
            want = None
        assert got == want, raw
    assert set(parsed.messages) == {s for s, v in zip(samples, parsed.values.to_list(),
                                                      strict=True) if v is None}
