"""Hostile files and bodies (#12 item 4): limits on decompressed size, rows, columns, cell length,
nesting depth and body size, each refused with a zh/en message and nothing half-stored; feed text
escaped on pages; links out of a loaded folder refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.webutil import county_site, login

from ctown.app import create_app
from ctown.db import make_engine
from ctown.ingest import readers
from ctown.ingest.readers import Limits, ReadError
from ctown.ingest.tasks import PlanError, plan
from ctown.settings import Settings
from test_ingest_support import BANK_HEADER, BANK_ROWS, HEAD1, write_county, write_csv


def _chunks(path: Path) -> list[object]:
    return list(readers.iter_chunks(readers.describe(path)))


def test_an_xlsx_zip_bomb_is_refused_before_it_is_decompressed(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (8 << 20))  # 8 MB of zeros: 1000:1
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ReadError) as refused:
        _chunks(bomb)
    both = refused.value.message.both()
    assert "压缩炸弹" in both["zh"] and "zip bomb" in both["en"] and "8 MB" in both["en"]
    # A workbook over the total limit, whatever its ratio.
    with pytest.raises(ReadError, match="超过上限 0 MB"):
        readers.check_zip(bomb, Limits(max_xlsx_bytes=1 << 19, max_xlsx_ratio=10_000))


def test_an_ordinary_workbook_passes_the_zip_check(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "ok.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for r in range(2000):
        sheet.write_row(r, 0, ["张三", "330521197001010011", 12.5] if r else ["姓名", "身份证号", "面积"])
    book.close()
    readers.check_zip(path)
    assert sum(c.frame.height for c in _chunks(path)) == 1999  # type: ignore[attr-defined]


def test_too_many_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(600)) + "\n" + ",".join("1" * 600) + "\n",
                    encoding="utf-8")
    with pytest.raises(ReadError, match="600 列，超过上限 500 列"):
        _chunks(path)


def test_too_many_rows_and_too_long_a_cell(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("姓名,备注\n" + "".join(f"张{i},x\n" for i in range(30)), encoding="utf-8")
    chunks = readers.read_csv(path, "utf-8")
    with pytest.raises(ReadError, match="超过 20 行"):
        list(readers.within_limits(path, chunks, Limits(max_rows=20)))
    long = tmp_path / "long.csv"
    long.write_text("姓名,备注\n张三,x\n李四," + "长" * 40_000 + "\n", encoding="utf-8")
    with pytest.raises(ReadError) as refused:
        _chunks(long)
    assert refused.value.message.both()["en"].startswith("file long.csv has a cell of 40000")


def test_json_nesting(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(json.dumps([{"a": 1, "b": json.loads("[" * 40 + "]" * 40)}]),
                    encoding="utf-8")
    with pytest.raises(ReadError, match="嵌套过深"):
        _chunks(deep)
    # Deeper than Python's own recursion limit: refused, not a RecursionError.
    abyss = tmp_path / "abyss.json"
    abyss.write_text('[{"a": ' + "[" * 100_000 + "]" * 100_000 + "}]", encoding="utf-8")
    with pytest.raises(ReadError, match="嵌套过深"):
        _chunks(abyss)
    assert readers.json_depth({"a": [1, {"b": [2]}]}) == 4
    assert readers.json_depth("x") == 0


def test_a_folder_load_refuses_links_outside_it(tmp_path: Path) -> None:
    county = write_county(tmp_path / "county")
    secret = tmp_path / "elsewhere" / "other_county.csv"
    write_csv(secret, BANK_HEADER, BANK_ROWS, "utf-8")
    os.symlink(secret, county / "bank" / "bank_2.csv")
    with pytest.raises(PlanError) as refused:
        plan([county])
    assert "bank_2.csv" in refused.value.message.both()["en"]
    assert "outside the given folder" in refused.value.message.both()["en"]
    os.unlink(county / "bank" / "bank_2.csv")
    os.symlink(tmp_path / "elsewhere", county / "court")
    with pytest.raises(PlanError, match="指向所给文件夹之外"):
        plan([county])


def _ctown(args: list[str], url: str, var: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}
    return subprocess.run([sys.executable, "-m", "ctown", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in ("indicator_values", "current_values", "quarantined_rows", "subjects"):
            cols = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            out[table] = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1"))]
    engine.dispose()
    return out


def test_a_refused_file_stores_nothing(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    county = write_county(tmp_path / "county")
    first = _ctown(["ingest", str(county), "--json"], url, tmp_path / "var")
    assert first.returncode == 0, first.stderr
    before = _contents(url)
    assert before["indicator_values"]
    # A bank file whose good rows come first and whose last cell is 40,000 characters long.
    rows = [*BANK_ROWS, [HEAD1, "张三", "1", "1", "0", "0", "1", "正常", "是", "2025-07-31",
                         "城" * 40_000]]
    bad = write_csv(tmp_path / "bank_2.csv", BANK_HEADER, rows, "utf-8")
    second = _ctown(["ingest", str(bad), "--department", "bank", "--json"], url, tmp_path / "var")
    assert "40000" in second.stdout + second.stderr
    assert _contents(url) == before


def test_bodies_beyond_the_limit_and_deep_rows_are_refused(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    app = create_app(Settings(database_url=url, var_dir=tmp_path, max_body_mb=1))
    with TestClient(app) as client:
        big = client.post("/api/v1/auth/token", content=b"{" + b" " * (2 << 20) + b"}",
                          headers={"content-type": "application/json"})
        assert big.status_code == 413 and "1 MB" in big.json()["detail"]["en"]

        def chunked() -> object:  # no Content-Length: counted as it arrives
            for _ in range(40):
                yield b" " * 65_536

        streamed = client.post("/api/v1/auth/token", content=chunked(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        small = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
        assert small.status_code == 401  # under the limit: answered as usual


def test_a_pushed_row_nested_too_deep_is_422_before_any_work() -> None:
    from pydantic import ValidationError

    from ctown.ingest.schemas import PushBatchIn

    deep: object = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValidationError, match="nests deeper than 16"):
        PushBatchIn(batch_id="b1", rows=[{"a": 1}, {"a": deep}])
    assert PushBatchIn(batch_id="b1", rows=[{"a": 1, "b": [1, 2]}]).rows[1:] == []


def test_feed_text_is_escaped_on_pages(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    with county_site(url, tmp_path) as client:
        engine = make_engine(url)
        with engine.begin() as conn:
            sid = conn.scalar(sa.text("SELECT min(id) FROM subjects WHERE kind = 'household'"))
            conn.execute(sa.text("UPDATE subjects SET name = :n WHERE id = :i"),
                         {"n": "<script>alert(1)</script>张三", "i": sid})
        engine.dispose()
        login(client, "admin", "pw-admin-123")
        page = client.get(f"/households/{sid}")
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
