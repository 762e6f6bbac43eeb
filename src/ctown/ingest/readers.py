"""Streaming readers of department files (部门数据文件): CSV, XLSX and JSON, in chunks of text rows.

Every reader yields :class:`Chunk` objects whose frame has only ``String`` columns (the file's own
header names) plus ``__row__``, the row number a clerk sees (the spreadsheet row: header = 1; for
JSON the record number), so a quarantined row can be found in the original file. Nothing here
reads a file whole: CSV goes through Arrow's streaming reader (which transcodes GB18030 block by
block), XLSX through calamine's row iterator, JSON through an incremental decoder.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import charset_normalizer
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ctown.i18n import Message, _

ROW = "__row__"
#: Text of a row that could not be split into the header's columns, and its field count.
INVALID = "__invalid__"
FIELDS = "__fields__"
CHUNK_ROWS = 100_000
_BLOCK = 8 << 20
_SAMPLE = 1 << 16
#: GB2312 ⊂ GBK ⊂ GB18030: a file detected as any of them is read as the superset, so that a rare
#: character (生僻字 in a name) that only GB18030 encodes does not break the read.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn", "hz_gb_2312"}
_DELIMITERS = (",", "\t", ";", "|")
_HEADER_SCAN = 20
_WRAPPERS = ("rows", "data", "records", "items")
_WRAPPER = re.compile(r'"(?:rows|data|records|items)"\s*:\s*\[')


@dataclass(frozen=True)
class Limits:
    """What a department file may hold (#12 item 4). A file beyond any limit is refused whole,
    with a message saying which limit and how to split it; a long file is loaded in a transaction
    of its own (``ingest.tasks``), so a refusal half-way leaves nothing of it stored."""

    #: A county's largest register (公安户籍) has under a million rows.
    max_rows: int = 5_000_000
    max_columns: int = 500
    #: Excel's own limit for one cell.
    max_cell_chars: int = 32_767
    #: An XLSX is a zip: its parts decompressed, and how far one part may expand (zip bombs).
    max_xlsx_bytes: int = 1 << 30
    max_xlsx_ratio: int = 200
    #: Nesting of a JSON value inside a row (a feed row is flat: a value is rarely a list).
    max_json_depth: int = 16


LIMITS = Limits()


class ReadError(ValueError):
    """A file that cannot be read at all (format, encoding): the load of that file fails."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class Chunk:
    frame: pl.DataFrame
    sheet: str | None = None


@dataclass(frozen=True)
class FileInfo:
    path: Path
    format: str
    encoding: str | None
    sha256: str
    size: int


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        return "xlsx"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xlsx"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped[:1] in (b"[", b"{") else "csv"


def describe(path: Path) -> FileInfo:
    fmt = detect_format(path)
    encoding = detect_encoding(path) if fmt != "xlsx" else None
    return FileInfo(path, fmt, encoding, file_sha256(path), path.stat().st_size)


# -- encodings ----------------------------------------------------------------------------------

def _sample(path: Path) -> bytes:
    """The first bytes that are not plain ASCII (a file may start with an ASCII-only header)."""
    with path.open("rb") as fh:
        first = fh.read(_SAMPLE)
        if not first.isascii():
            return first
        while block := fh.read(_BLOCK):
            if not block.isascii():
                pos = next(i for i, b in enumerate(block) if b > 0x7F)
                start = max(0, pos - 64)
                return block[start:start + _SAMPLE] + fh.read(256)
    return first


def detect_encoding(path: Path) -> str:
    """``utf-8-sig``, ``utf-16`` (by BOM), ``utf-8``, or what charset-normalizer finds (GB → GB18030)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = _sample(path)
    if sample.isascii():
        return "utf-8"
    try:  # a sample cut in the middle of a character is still UTF-8
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_chinese(sample, "gb18030"):
        # Short Chinese samples fool statistical detectors (a GB18030 CSV was once taken for
        # ISO-8859-5); text that decodes as GB18030 into mostly CJK characters is GB18030.
        return "gb18030"
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise ReadError(Message(_("无法识别文件 {file} 的字符编码（应为 UTF-8 或 GB18030）"),
                                {"file": path.name}))
    names = {best.encoding, *best.could_be_from_charset}
    return "gb18030" if names & _GB_FAMILY else str(best.encoding)


def _looks_chinese(sample: bytes, encoding: str) -> bool:
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    wide = [c for c in text if ord(c) > 0x7F]
    cjk = sum(1 for c in wide if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
    return bool(wide) and cjk >= 0.8 * len(wide)


# -- header detection ---------------------------------------------------------------------------

#: Column names the readers add themselves; a file's own column of that name is renamed.
_RESERVED = (ROW, INVALID, FIELDS)


def _clean_header(names: Iterable[object]) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(names):
        name = str(raw).strip().lstrip("\ufeff") if raw is not None else ""
        name = name or f"column_{i + 1}"
        base, n = name, 2
        # Two columns with one name (in JSON: keys that differ only by spaces): keep both, the
        # second gets a suffix; so does a column named as one of ours (``__row__``).
        while name in out or name in _RESERVED:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out


def _header_index(rows: list[list[str]], known: set[str] | None) -> int:
    """Index of the header row: the one naming most known columns (title rows above are skipped)."""
    best, score = None, 0
    if known:
        for i, row in enumerate(rows):
            hits = sum(1 for c in row if _norm_name(c) in known)
            if hits > score:
                best, score = i, hits
    if best is not None:
        return best
    return next((i for i, row in enumerate(rows) if sum(1 for c in row if str(c).strip()) >= 2), 0)


def _norm_name(name: object) -> str:
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name)))


# -- CSV ------------------------------------------------------------------------------------------

def _csv_head(path: Path, encoding: str) -> tuple[list[tuple[int, list[str]]], str]:
    """The first non-blank lines as (physical line index, fields), and the delimiter."""
    with path.open("r", encoding=encoding, newline="", errors="replace") as fh:
        lines = [line for _i, line in zip(range(_HEADER_SCAN * 2), fh, strict=False)]
    first = next((ln for ln in lines if ln.strip()), "")
    delimiter = max(_DELIMITERS, key=first.count)
    try:
        found = [(i, next(csv.reader([ln.lstrip("\ufeff")], delimiter=delimiter), []))
                 for i, ln in enumerate(lines) if ln.strip()]
    except csv.Error as exc:  # a field past csv's own limit (128 KiB) in the first lines
        raise ReadError(Message(_("文件 {file} 的开头几行不是可读取的 CSV（{error}）：请检查是否导出错误"),
                                {"file": path.name, "error": str(exc)[:200]})) from exc
    return found[:_HEADER_SCAN], delimiter


def read_csv(path: Path, encoding: str, known: set[str] | None = None,
             block_size: int = _BLOCK) -> Iterator[Chunk]:
    head, delimiter = _csv_head(path, encoding)
    if not head:
        return
    at = _header_index([fields for _i, fields in head], known)
    header_line, names = head[at][0], _clean_header(head[at][1])
    _check_columns(path, names)
    ragged: list[tuple[int, str]] = []

    def keep_ragged(row: Any) -> str:
        # Arrow can only skip or fail on a row with the wrong number of fields; we skip it here
        # and hand it on as an invalid row, so that it is quarantined, never lost.
        ragged.append((row.actual_columns, row.text))
        return "skip"

    row_no = header_line + 2  # spreadsheet row of the first data line (the header's is 1-based +1)
    try:
        # Opening reads (and transcodes) the first block: its errors are the file's too.
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=header_line + 1,
                                           block_size=block_size,
                                           encoding=_arrow_encoding(encoding), use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             ignore_empty_lines=False,
                                             invalid_row_handler=keep_ragged),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False))
        for batch in reader:
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_row_index(ROW, offset=row_no).with_columns(
                pl.col(ROW).cast(pl.Int64))
            row_no += batch.num_rows + len(ragged)
            frame = _drop_blank(frame)
            if frame.height:
                yield Chunk(frame)
            if ragged:
                yield _ragged_chunk(ragged, len(names))
                ragged.clear()
    except (pa.ArrowInvalid, UnicodeError) as exc:
        raise ReadError(Message(_("文件 {file} 无法按 {encoding} 编码读取：{error}"),
                                {"file": path.name, "encoding": encoding, "error": str(exc)[:200]}
                                )) from exc


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding


def _ragged_chunk(ragged: list[tuple[int, str]], width: int) -> Chunk:
    """Rows whose field count differs from the header's (their position in the file is unknown)."""
    rows = [t for _n, t in ragged if t.strip(" ,\t;|\r\n")]
    return Chunk(pl.DataFrame({
        INVALID: pl.Series(INVALID, rows, dtype=pl.String),
        FIELDS: pl.Series(FIELDS, [str(n) for n, t in ragged if t.strip(" ,\t;|\r\n")],
                          dtype=pl.String),
        ROW: pl.Series(ROW, [None] * len(rows), dtype=pl.Int64)}))


def _drop_blank(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows with nothing in any cell (trailing ``,,,`` lines Excel writes) are not records."""
    cols = [c for c in frame.columns if c != ROW]
    if not cols:
        return frame
    empty = pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")
                               for c in cols])
    return frame.filter(~empty)


# -- XLSX ------------------------------------------------------------------------------------------

def cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a clerk sees (numbers without a trailing .0, ISO dates)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Integral numbers below 1e15 are exact in a double; larger ones (an 18-digit ID typed as
        # a number) already lost digits, and their repr keeps the E+17 the identifier check refuses.
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def read_xlsx(path: Path, known: set[str] | None = None, chunk_rows: int = CHUNK_ROWS
              ) -> Iterator[Chunk]:
    from python_calamine import CalamineWorkbook

    check_zip(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of bad file
        raise ReadError(Message(_("文件 {file} 不是可读取的 Excel 工作簿：{error}"),
                                {"file": path.name, "error": str(exc)[:200]})) from exc
    for index, sheet_name in enumerate(book.sheet_names):
        sheet = book.get_sheet_by_index(index)
        rows = sheet.iter_rows()
        head: list[list[Any]] = []
        for row in rows:
            head.append(list(row))
            if len(head) >= _HEADER_SCAN:
                break
        texts = [[cell_text(c) or "" for c in r] for r in head]
        if not any(any(t.strip() for t in r) for r in texts):
            continue
        at = _header_index(texts, known)
        if known and index > 0 and not any(_norm_name(c) in known for c in texts[at]):
            continue  # a notes sheet after the data sheet
        names = _clean_header(texts[at])
        _check_columns(path, names)
        first_row = sheet.start[0] if sheet.start else 0
        body = _xlsx_rows(head[at + 1:], rows)
        yield from _xlsx_chunks(body, names, first_row + at + 2, chunk_rows, sheet_name)


def check_zip(path: Path, limits: Limits = LIMITS) -> None:
    """Refuse a zip bomb before anything is decompressed: the sizes the archive declares, in all
    and per part (a part that lies about its size fails calamine's own check when read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip (an old .xls): calamine reads it or refuses it
    total = sum(p.file_size for p in parts)
    worst = max(parts, key=lambda p: p.file_size / max(p.compress_size, 1), default=None)
    ratio = worst.file_size / max(worst.compress_size, 1) if worst else 0
    if total > limits.max_xlsx_bytes or (ratio > limits.max_xlsx_ratio
                                         and worst is not None and worst.file_size > 1 << 20):
        raise ReadError(Message(_(
            "文件 {file} 解压后有 {size} MB（单个部分压缩比 {ratio}:1），超过上限 {limit} MB / "
            "{max_ratio}:1，可能是“压缩炸弹”：请导出为 CSV，或拆分后分批报送"),
            {"file": path.name, "size": total >> 20, "ratio": int(ratio),
             "limit": limits.max_xlsx_bytes >> 20, "max_ratio": limits.max_xlsx_ratio}))


def _check_columns(path: Path, names: list[str], limits: Limits = LIMITS) -> None:
    if len(names) > limits.max_columns:
        raise ReadError(Message(_("文件 {file} 有 {count} 列，超过上限 {limit} 列：请只导出映射所需的列"),
                                {"file": path.name, "count": len(names),
                                 "limit": limits.max_columns}))
    longest = max(map(len, names), default=0)
    if longest > limits.max_cell_chars:  # a header cell is a cell too
        raise ReadError(Message(_(
            "文件 {file} 的表头有一个列名长 {length} 个字符，超过上限 {limit}：请检查是否导出错误"),
            {"file": path.name, "length": longest, "limit": limits.max_cell_chars}))


def _xlsx_rows(buffered: list[list[Any]], rest: Iterator[list[Any]]) -> Iterator[list[Any]]:
    yield from buffered
    for row in rest:
        yield list(row)


def _xlsx_chunks(rows: Iterator[list[Any]], names: list[str], first_row: int, chunk_rows: int,
                 sheet: str) -> Iterator[Chunk]:
    block: list[list[Any]] = []
    start = first_row
    for row in rows:
        block.append(row)
        if len(block) >= chunk_rows:
            yield _sheet_frame(block, names, start, sheet)
            start += len(block)
            block = []
    if block:
        yield _sheet_frame(block, names, start, sheet)


def _sheet_frame(block: list[list[Any]], names: list[str], start: int, sheet: str) -> Chunk:
    """Cells to text column by column: text columns go as they are, number columns through
    Polars, and only columns of mixed types value by value (:func:`cell_text`)."""
    width = len(names)
    data: dict[str, Any] = {}
    for i, name in enumerate(names):
        values = [r[i] if i < len(r) else None for r in block]
        data[name] = _cells_to_text(name, values)
    data[ROW] = pl.Series(ROW, range(start, start + len(block)), dtype=pl.Int64)
    frame = pl.DataFrame(data) if width else pl.DataFrame({ROW: data[ROW]})
    return Chunk(_drop_blank(frame), sheet)


def _cells_to_text(name: str, values: list[Any]) -> pl.Series:
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:
        s = pl.Series(name, values, dtype=pl.String).str.strip_chars()
        return pl.select(pl.when(s != "").then(s).alias(name)).to_series()
    if kinds <= {float, int, type(None)}:
        nums = pl.Series(name, values, dtype=pl.Float64)
        exact = ((nums.round(0) == nums) & (nums.abs() < 1e15)).fill_null(True)
        if exact.all():  # whole numbers print without ".0", as a clerk sees them in Excel
            return nums.cast(pl.Int64).cast(pl.String)
    return pl.Series(name, [cell_text(v) for v in values], dtype=pl.String)


# -- JSON ------------------------------------------------------------------------------------------

def json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    if json_depth(value) > LIMITS.max_json_depth:
        raise ReadError(Message(_("数据中有嵌套过深的值（超过 {limit} 层）：每行应为“列名: 值”的平面记录"),
                                {"limit": LIMITS.max_json_depth}))
    return json.dumps(value, ensure_ascii=False)


def json_depth(value: object, limit: int = LIMITS.max_json_depth + 1) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar: 0); counts no further than
    ``limit``, iteratively, so a hostile value cannot exhaust the stack."""
    depth, level = 0, [value]
    while level and depth < limit:
        nested = [v for item in level if isinstance(item, dict | list)
                  for v in (item.values() if isinstance(item, dict) else item)]
        if not any(isinstance(item, dict | list) for item in level):
            break
        depth, level = depth + 1, nested
    return depth


def _json_objects(path: Path, encoding: str) -> Iterator[object]:
    """Objects of a JSON array, of JSON lines, or of the array under ``rows``/``data``/``records``."""
    decoder = json.JSONDecoder()
    with path.open("r", encoding=encoding, newline="") as fh:
        buf, pos, eof = fh.read(_SAMPLE), 0, False
        buf = buf.lstrip("\ufeff")
        start = re.match(r"\s*", buf)
        pos = start.end() if start else 0
        in_array = buf[pos:pos + 1] == "["
        if buf[pos:pos + 1] == "{" and not _is_json_lines(buf[pos:]):
            wrapper = _WRAPPER.search(buf, pos)
            if wrapper is None:
                raise ReadError(Message(_("JSON 文件 {file} 应为对象数组、JSON Lines，或含 rows 数组的对象"),
                                        {"file": path.name}))
            pos, in_array = wrapper.end() - 1, True
        if in_array:
            pos += 1
        while True:
            while True:  # skip separators
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buf) or eof:
                    break
                buf, pos = fh.read(_BLOCK), 0
                eof = not buf
            if pos >= len(buf) or (in_array and buf[pos] == "]"):
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except RecursionError as exc:
                raise ReadError(Message(_("JSON 文件 {file} 嵌套过深（超过 {limit} 层）"),
                                        {"file": path.name, "limit": LIMITS.max_json_depth})
                                ) from exc
            except json.JSONDecodeError as exc:
                more = "" if eof else fh.read(_BLOCK)
                if not more:
                    eof = True
                    raise ReadError(Message(_("JSON 文件 {file} 格式错误：{error}"),
                                            {"file": path.name, "error": str(exc)[:200]})) from exc
                buf, pos = buf[pos:] + more, 0
                continue
            yield obj
            pos = end


def _is_json_lines(text: str) -> bool:
    first = text.split("\n", 1)[0].strip()
    try:
        obj = json.loads(first)
    except json.JSONDecodeError:
        return False
    except RecursionError:
        return True  # read as a line, it is refused as nested too deeply (_json_objects)
    # One object on one line that carries the rows in a list is a wrapper, not JSON Lines.
    return isinstance(obj, dict) and not any(isinstance(obj.get(k), list) for k in _WRAPPERS)


def read_json(path: Path, encoding: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    try:
        yield from records_to_chunks(_json_objects(path, encoding), chunk_rows)
    except UnicodeError as exc:  # bytes further on that the detected encoding does not decode
        raise ReadError(Message(_("文件 {file} 无法按 {encoding} 编码读取：{error}"),
                                {"file": path.name, "encoding": encoding, "error": str(exc)[:200]}
                                )) from exc


def records_to_chunks(records: Iterable[object], chunk_rows: int = CHUNK_ROWS,
                      first: int = 1, keep_blank: bool = False) -> Iterator[Chunk]:
    """Dicts (JSON objects, API rows) as text chunks; a row that is not an object becomes a row
    whose only column ``__invalid__`` holds its text, so it is quarantined and not lost."""
    block: list[dict[Any, Any]] = []
    numbers: list[int] = []
    for n, obj in enumerate(records, start=first):
        if not isinstance(obj, dict):
            obj = {_NOT_AN_OBJECT: json_text(obj) or "null"}
        if keep_blank or any(v is not None and str(v).strip() for v in obj.values()):
            block.append(obj)
            numbers.append(n)
        if len(block) >= chunk_rows:
            yield _records_frame(block, numbers)
            block, numbers = [], []
    if block:
        yield _records_frame(block, numbers)


class _NotAnObject:
    """The key under which a row that is not an object keeps its text (its column: INVALID)."""


_NOT_AN_OBJECT = _NotAnObject()


def _records_frame(block: list[dict[Any, Any]], numbers: list[int]) -> Chunk:
    """Column by column: a column of text (the usual case) goes to Polars as it is; only columns
    holding numbers, booleans or nested values are turned into text value by value."""
    keys = list(dict.fromkeys(k for obj in block for k in obj))
    texts = [k for k in keys if k is not _NOT_AN_OBJECT]
    # Named as a header is (trimmed, unique, none of ours): keys " a" and "a", or a key
    # "__row__" or "__invalid__", each keep their values instead of overwriting another's.
    names: dict[Any, str] = dict(zip(texts, _clean_header(texts), strict=True))
    names[_NOT_AN_OBJECT] = INVALID
    data: dict[str, Any] = {}
    for key in keys:
        name = names[key]
        values = [obj.get(key) for obj in block]
        if not set(map(type, values)) <= {str, type(None)}:
            values = [json_text(v) for v in values]
        data[name] = pl.Series(name, values, dtype=pl.String)
    data[ROW] = pl.Series(ROW, numbers, dtype=pl.Int64)
    return Chunk(pl.DataFrame(data))


# -- entry point -----------------------------------------------------------------------------------

def iter_chunks(info: FileInfo, known: set[str] | None = None,
                chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """The file's rows, chunk by chunk; ``known`` (normalised column names) finds the header row."""
    if info.format == "xlsx":
        chunks = read_xlsx(info.path, known, chunk_rows)
    elif info.format == "json":
        chunks = read_json(info.path, info.encoding or "utf-8", chunk_rows)
    else:
        chunks = read_csv(info.path, info.encoding or "utf-8", known)
    return within_limits(info.path, chunks)


def within_limits(path: Path, chunks: Iterator[Chunk], limits: Limits = LIMITS
                  ) -> Iterator[Chunk]:
    """The chunks, refused (:class:`ReadError`) at the first beyond the row or cell limit."""
    rows = 0
    for chunk in chunks:
        rows += chunk.frame.height
        if rows > limits.max_rows:
            raise ReadError(Message(_("文件 {file} 超过 {limit} 行：请按乡镇拆分后分别报送"),
                                    {"file": path.name, "limit": limits.max_rows}))
        longest = _longest_cell(chunk.frame)
        if longest > limits.max_cell_chars:
            raise ReadError(Message(_(
                "文件 {file} 有一个单元格长 {length} 个字符，超过上限 {limit}：请检查是否导出错误"),
                {"file": path.name, "length": longest, "limit": limits.max_cell_chars}))
        yield chunk


def _longest_cell(frame: pl.DataFrame) -> int:
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    if not texts or not frame.height:
        return 0
    lengths = frame.select(pl.max_horizontal(pl.col(c).str.len_chars().max() for c in texts))
    return int(lengths.item() or 0)
