"""Writing a department's rows in its own format, in chunks so memory stays flat.

``csv-gb18030`` (CRLF, as Windows exports), ``csv-utf8-bom``, ``xlsx`` (xlsxwriter in constant
memory mode, numbers as numbers, identifiers as text — except where Excel mangled them), ``json``
(an envelope with the batch id and a ``records`` array). Output is byte-identical for the same input:
no timestamps except the fixed creation date given by the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

CHUNK = 50_000
EXTENSIONS = {"csv-gb18030": "csv", "csv-utf8-bom": "csv", "csv-utf8": "csv", "xlsx": "xlsx",
              "json": "json"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_SCIENTIFIC = re.compile(r"^\d\.\d+E\+\d+$")
_SERIAL = re.compile(r"^\d{5}$")


def public(frame: pl.DataFrame) -> pl.DataFrame:
    """The department's own columns (helper columns start with an underscore)."""
    return frame.select([c for c in frame.columns if not c.startswith("_")])


def write(frame: pl.DataFrame, path: Path, fmt: str, *, numeric: set[str], id_col: str,
          date_col: str | None, batch_id: str, sheet: str, created: dt.datetime) -> None:
    frame = public(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt.startswith("csv"):
        _csv(frame, path, fmt)
    elif fmt == "xlsx":
        _xlsx(frame, path, numeric=numeric, id_col=id_col, date_col=date_col, sheet=sheet,
              created=created)
    elif fmt == "json":
        _json(frame, path, batch_id)
    else:
        raise ValueError(f"unknown format {fmt}")


def _csv(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    encoding = "gb18030" if fmt == "csv-gb18030" else "utf-8"
    newline = "\r\n" if fmt == "csv-gb18030" else "\n"
    with path.open("wb") as fh:
        if fmt == "csv-utf8-bom":
            fh.write(b"\xef\xbb\xbf")
        for start in range(0, max(frame.height, 1), CHUNK):
            part = frame.slice(start, CHUNK)
            text = part.write_csv(include_header=start == 0, line_terminator=newline)
            fh.write(text.encode(encoding))


def _cell_writer(col: str, numeric: set[str], id_col: str, date_col: str | None
                 ) -> Callable[[Any, int, int, str], None]:
    def text(ws: Any, r: int, c: int, v: str) -> None:
        ws.write_string(r, c, v)

    def number_if(pattern: re.Pattern[str]) -> Callable[[Any, int, int, str], None]:
        def write(ws: Any, r: int, c: int, v: str) -> None:
            if pattern.match(v):
                ws.write_number(r, c, float(v))
            else:
                ws.write_string(r, c, v)
        return write

    if col in numeric:
        return number_if(_NUMBER)
    if col == id_col:
        return number_if(_SCIENTIFIC)  # the Excel-mangled ID is a number cell, as Excel saved it
    if col == date_col:
        return number_if(_SERIAL)  # a date Excel shows as its serial number
    return text


def _xlsx(frame: pl.DataFrame, path: Path, *, numeric: set[str], id_col: str,
          date_col: str | None, sheet: str, created: dt.datetime) -> None:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    wb.set_properties({"created": created, "author": sheet, "title": sheet})
    ws = wb.add_worksheet(sheet[:31])
    bold = wb.add_format({"bold": True})
    writers = [_cell_writer(c, numeric, id_col, date_col) for c in frame.columns]
    for c, name in enumerate(frame.columns):
        ws.write_string(0, c, name, bold)
    r = 1
    for start in range(0, frame.height, CHUNK):
        for row in frame.slice(start, CHUNK).iter_rows():
            for c, value in enumerate(row):
                if value is not None:
                    writers[c](ws, r, c, value)
            r += 1
    wb.close()


def _json(frame: pl.DataFrame, path: Path, batch_id: str) -> None:
    head = json.dumps({"batch_id": batch_id, "record_count": frame.height}, ensure_ascii=False)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(head[:-1] + ', "records": [')
        first = True
        for start in range(0, frame.height, CHUNK):
            body = frame.slice(start, CHUNK).write_json()[1:-1]
            if body:
                fh.write(("" if first else ",") + "\n" + body.replace("},{", "},\n{"))
                first = False
        fh.write("\n]}\n")
