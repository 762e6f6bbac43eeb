"""Properties of the department-file readers (#12 item 3), ``ctown.ingest.readers``: CSV, XLSX
and JSON.

Any bytes under any of the three names give chunks of text or a :class:`ReadError` with a message
in both languages — never another exception. A table written by the standard tools (``csv``,
``json``, xlsxwriter) in any of the accepted layouts and encodings is read back cell for cell.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import xlsxwriter
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import bounded

from ctown.ingest.readers import FIELDS, INVALID, ROW, ReadError, describe, iter_chunks

SUFFIXES = (".csv", ".json", ".xlsx")


@contextmanager
def written(content: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"feed{suffix}"
        path.write_bytes(content)
        yield path


def read_all(path: Path) -> list[pl.DataFrame] | ReadError:
    """Every chunk of the file, or its refusal (which must say why in both languages)."""
    try:
        return [chunk.frame for chunk in iter_chunks(describe(path))]
    except ReadError as exc:
        both = exc.message.both()
        assert both["zh"] and both["en"]
        return exc


def rows_of(frames: list[pl.DataFrame] | ReadError) -> list[dict[str, str | None]]:
    assert not isinstance(frames, ReadError), frames
    rows = [r for f in frames for r in f.drop(ROW).to_dicts()]
    assert all(INVALID not in r for r in rows), rows
    return rows


# -- any bytes -------------------------------------------------------------------------------------

#: Pieces of the three formats, so that generated files get past the first byte.
PIECES = st.sampled_from([
    b",", b";", b"\t", b"\n", b"\r\n", b'"', b"[", b"]", b"{", b"}", b":", b'"rows":', b"null",
    b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", "姓名".encode("gb18030"),
    "身份证号".encode(), b"\x00", b"\xff", b"__row__", b"__invalid__", b" a", b"a "])
hostile = st.one_of(st.binary(max_size=300),
                    st.lists(st.one_of(PIECES, st.binary(max_size=8)), max_size=60).map(b"".join))


@bounded(200)
@given(hostile, st.sampled_from((*SUFFIXES, ".txt", "")))
def test_any_bytes_are_rows_or_a_refusal(content: bytes, suffix: str) -> None:
    with written(content, suffix) as path:
        frames = read_all(path)
    if isinstance(frames, ReadError):
        return
    for frame in frames:
        assert frame.schema[ROW] == pl.Int64
        assert all(t == pl.String for c, t in frame.schema.items() if c != ROW)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@bounded(20)
@given(st.sampled_from([
    '{"a": NEST}\n', '[{"a": NEST}]', '{"rows": [{"a": NEST}]}', "NEST", '{"a": 1}\n{"b": NEST}\n']),
    st.integers(10, 100_000))
def test_deep_nesting_is_refused_or_read(layout: str, depth: int) -> None:
    with written(layout.replace("NEST", nested(depth)).encode(), ".json") as path:
        read_all(path)


@bounded(10)
@given(st.sampled_from(['"{big}",b\n1,2\n', 'a,b\n"{big}",2\n', 'a,b\n1,2\n' * 30 + 'x,"{big}"\n']),
       st.integers(32_768, 300_000))
def test_a_huge_cell_is_refused_with_a_reason(layout: str, size: int) -> None:
    with written(layout.format(big="x" * size).encode(), ".csv") as path:
        assert isinstance(read_all(path), ReadError)


# -- round trips -----------------------------------------------------------------------------------

#: Printable text without the whitespace and controls readers trim or treat as blank.
cell_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Co", "Cn"))
cells = st.text(cell_chars, max_size=12)
names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Co", "Cn"),
                              blacklist_characters=',;\t|"\ufeff'), min_size=1, max_size=8)


@st.composite
def tables(draw: st.DrawFn, cjk_only: bool = False) -> tuple[list[str], list[list[str]]]:
    """A header of distinct names (the readers' own names among them) and rows of cells, each
    row with at least one cell filled (a blank row is no record)."""
    text = st.text(st.sampled_from("张王李赵信用社村镇贷款0123456789abcXYZ-_.()（）"), max_size=10
                   ) if cjk_only else cells
    header = draw(st.lists(st.one_of(names, st.sampled_from([ROW, INVALID, FIELDS])),
                           min_size=2, max_size=6, unique=True))
    if cjk_only:
        header = [f"列{i}" for i in range(len(header))]
    width = len(header)
    row = st.lists(text, min_size=width, max_size=width).filter(lambda r: any(r))
    return header, draw(st.lists(row, min_size=1, max_size=12))


def expected(header: list[str], rows: list[list[str]]) -> list[dict[str, str | None]]:
    return [dict(zip(header, r, strict=True)) for r in rows]


@bounded(60)
@given(tables(), st.sampled_from([",", "\t", ";", "|"]), st.sampled_from(["utf-8", "utf-8-sig",
                                                                          "utf-16"]))
def test_a_csv_reads_back_cell_for_cell(table: tuple[list[str], list[list[str]]], delimiter: str,
                                        encoding: str) -> None:
    header, rows = table
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    with written(out.getvalue().encode(encoding), ".csv") as path:
        got = rows_of(read_all(path))
    assert [list(r.values()) for r in got] == rows
    assert all(set(r) == set(header) or len(r) == len(header) for r in got)


@bounded(30)
@given(tables(cjk_only=True))
def test_a_gb18030_csv_reads_back_cell_for_cell(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    with written(out.getvalue().encode("gb18030"), ".csv") as path:
        assert rows_of(read_all(path)) == expected(header, rows)


@bounded(60)
@given(tables(), st.sampled_from(["array", "lines", "wrapped"]), st.booleans())
def test_json_records_read_back_value_for_value(table: tuple[list[str], list[list[str]]],
                                                layout: str, spaced_twin: bool) -> None:
    header, rows = table
    records = [dict(zip(header, r, strict=True)) for r in rows]
    if spaced_twin:  # a second key that differs from the first only by spaces
        records = [{**r, f" {header[0]} ": f"twin {i}"} for i, r in enumerate(records)]
    text = {"array": json.dumps(records, ensure_ascii=False),
            "lines": "\n".join(json.dumps(r, ensure_ascii=False) for r in records),
            "wrapped": json.dumps({"source": "tax", "rows": records})}[layout]
    with written(codecs.BOM_UTF8 * (layout == "lines") + text.encode(), ".json") as path:
        got = rows_of(read_all(path))
    # every value is kept, whatever its key is called: a key may be renamed, never dropped
    assert [sorted(v for v in r.values() if v is not None) for r in got] == [
        sorted(r.values()) for r in records]


@bounded(30)
@given(tables(), st.lists(st.one_of(st.integers(-(10**14), 10**14), st.booleans()), max_size=4))
def test_an_xlsx_reads_back_cell_for_cell(table: tuple[list[str], list[list[str]]],
                                         numbers: list[int | bool]) -> None:
    header, rows = table
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.xlsx"
        book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False,
                                               "strings_to_formulas": False,
                                               "strings_to_urls": False})
        sheet = book.add_worksheet("data")
        sheet.write_row(0, 0, [*header, "number"])
        for i, r in enumerate(rows):
            sheet.write_row(i + 1, 0, r)
            if i < len(numbers):
                sheet.write_boolean(i + 1, len(header), numbers[i]) if isinstance(
                    numbers[i], bool) else sheet.write_number(i + 1, len(header), numbers[i])
        book.close()
        got = rows_of(read_all(path))
    shown = [("true" if n else "false") if isinstance(n, bool) else str(n) for n in numbers]
    want = [{**dict(zip(header, [c or None for c in r], strict=True)),
             "number": shown[i] if i < len(shown) else None} for i, r in enumerate(rows)]
    assert [list(r.values()) for r in got] == [list(r.values()) for r in want]
