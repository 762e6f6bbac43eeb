"""Exports people open in a spreadsheet never carry a live formula (CSV injection)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ctown import exports


def test_formula_cells_become_text_and_the_rest_is_untouched(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "name": ["=HYPERLINK(\"http://x\",\"点我\")", "+86 138", "-1+1", "@SUM(A1)", "\tcmd",
                 "张三", "a=b", None],
        "amount": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    })
    out = exports.neutralise_formulas(frame)
    assert out["name"].to_list() == ["'=HYPERLINK(\"http://x\",\"点我\")", "'+86 138", "'-1+1",
                                     "'@SUM(A1)", "'\tcmd", "张三", "a=b", None]
    assert out["amount"].to_list() == frame["amount"].to_list()  # numbers stay numbers
    exports.write_csv(frame, tmp_path / "x.csv")
    written = pl.read_csv(tmp_path / "x.csv")
    assert written["name"][0] == "'=HYPERLINK(\"http://x\",\"点我\")"
    assert exports.write_csv(frame.head(1)) == "name,amount\n\"'=HYPERLINK(\"\"http://x\"\",\"\"点我\"\")\",-5.0\n"
