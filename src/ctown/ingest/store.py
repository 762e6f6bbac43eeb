"""Bulk writes of the credit file, per database: SQLite ``executemany`` of prepared statements,
PostgreSQL ``COPY`` through psycopg. Everything runs on the session's own connection, inside the
load's single transaction (see :mod:`ctown.ingest.service` for why that makes a load atomic).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from ctown import appendorder
from ctown.db import driver_connection

VALUE_COLUMNS = ("subject_id", "indicator_code", "value_num", "value_text", "observed_on",
                 "batch_id", "department", "catalogue_version", "recorded_at", "digest")
CURRENT_COLUMNS = ("subject_id", "indicator_code", "value_num", "value_text", "observed_on",
                   "batch_id", "department", "recorded_at")
_UPSERT_CURRENT = (
    "INSERT INTO current_values ({cols}) {source} "
    "ON CONFLICT (subject_id, indicator_code) DO UPDATE SET "
    "value_num = excluded.value_num, value_text = excluded.value_text, "
    "observed_on = excluded.observed_on, batch_id = excluded.batch_id, "
    "department = excluded.department, recorded_at = excluded.recorded_at "
    # A late file with an older observation must not replace a newer value.
    "WHERE excluded.observed_on >= current_values.observed_on")
_UPSERT_KEYS = (
    "INSERT INTO ingest_record_keys ({cols}) {source} "
    "ON CONFLICT (department, key_hash) DO UPDATE SET content_hash = excluded.content_hash, "
    "batch_id = excluded.batch_id")


def _rows(frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
    return zip(*(frame[c].to_list() for c in frame.columns), strict=True)


SQLITE_CACHE_KB = 128 * 1024
_PER_BATCH = ("batch_id", "department", "catalogue_version", "recorded_at")


def _split_constants(frame: pl.DataFrame) -> tuple[dict[str, str], pl.DataFrame]:
    """Columns that hold one value for the whole batch become SQL literals (fewer Python objects
    per row in ``executemany``); they are integers or text we wrote ourselves, quoted as SQL."""
    fixed: dict[str, str] = {}
    for name in _PER_BATCH:
        if name in frame.columns and frame[name].n_unique() == 1:
            value = frame[name][0]
            if isinstance(value, int):
                fixed[name] = str(int(value))
            elif isinstance(value, str):
                fixed[name] = "'" + value.replace("'", "''") + "'"
    return fixed, frame.drop(list(fixed))


class Store:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self._staged = False
        if self.dialect == "sqlite":
            # A bigger page cache for the load's connection (default 2 MB): the indexes of
            # indicator_values outgrow it after a few hundred thousand values.
            self.raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")

    @property
    def raw(self) -> Any:
        return driver_connection(self.session.connection())

    # -- indicator values ------------------------------------------------------------------------
    def _prepare(self, frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        out = frame.select(columns)
        casts = [pl.col("observed_on").cast(pl.String)]
        if self.dialect == "sqlite":
            casts.append(pl.col("recorded_at").dt.convert_time_zone("UTC")
                         .dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))
        return out.with_columns(casts)

    def insert_values(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        data = self._prepare(frame, VALUE_COLUMNS)
        appendorder.before_insert(self.raw, "indicator_values", self.dialect == "postgresql")
        if self.dialect == "postgresql":
            self._copy("indicator_values", data)
            return
        fixed, varying = _split_constants(data)
        cols = ", ".join([*varying.columns, *fixed])
        marks = ", ".join(["?"] * varying.width + list(fixed.values()))
        self.raw.executemany(f"INSERT INTO indicator_values ({cols}) VALUES ({marks})",
                             _rows(varying))

    def store_values(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` (one batch's values, sorted by subject, indicator, observation) to
        the history and make the latest of each (subject, indicator) current. The values cross
        from Python to the database once, not twice (the second crossing was a fifth of the
        load's time): the current values are derived inside the database from the rows just
        written, found by id (they follow the largest id seen before the insert)."""
        if frame.is_empty():
            return
        batches = frame["batch_id"].unique().to_list()
        assert len(batches) == 1, "store_values takes one batch's values"
        after = self._scalar("SELECT coalesce(max(id), 0) FROM indicator_values")
        self.insert_values(frame)
        cols = ", ".join(CURRENT_COLUMNS)
        rows = "FROM indicator_values WHERE id > {p} AND batch_id = {p}"
        if self.dialect == "postgresql":
            rows = rows.format(p="%s")
            if frame.select(pl.struct("subject_id", "indicator_code").is_unique().all()).item():
                source = f"SELECT {cols} {rows}"
            else:  # PostgreSQL refuses to update one row twice in a statement: the latest only
                source = (f"SELECT DISTINCT ON (subject_id, indicator_code) {cols} {rows} "
                          "ORDER BY subject_id, indicator_code, id DESC")
            with self.raw.cursor() as cur:
                cur.execute(_UPSERT_CURRENT.format(cols=cols, source=source), (after, batches[0]))
            return
        # SQLite applies the rows in id order, each later one replacing the earlier (the frame is
        # sorted by observation date, so the latest stays); "WHERE" keeps the upsert unambiguous.
        source = f"SELECT {cols} {rows.format(p='?')} ORDER BY id"
        self.raw.execute(_UPSERT_CURRENT.format(cols=cols, source=source), (after, batches[0]))

    def _scalar(self, sql: str) -> int:
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.execute(sql)
                return int(cur.fetchone()[0])
        return int(self.raw.execute(sql).fetchone()[0])

    # -- record keys -----------------------------------------------------------------------------
    def existing_keys(self, department: str, keys: list[str]) -> dict[str, str]:
        """Stored content hash of each key already known for the department."""
        if not keys:
            return {}
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.execute("SELECT key_hash, content_hash FROM ingest_record_keys "
                            "WHERE department = %s AND key_hash = ANY(%s)", (department, keys))
                return dict(cur.fetchall())
        # One statement per chunk: the keys travel as one JSON array, not 900 parameters at a
        # time; CROSS JOIN keeps the array outside, so each key is one primary-key probe.
        cur = self.raw.execute(
            "SELECT r.key_hash, r.content_hash FROM json_each(?) AS j "
            "CROSS JOIN ingest_record_keys AS r ON r.department = ? AND r.key_hash = j.value",
            (json.dumps(keys), department))
        return dict(cur.fetchall())

    def upsert_keys(self, frame: pl.DataFrame) -> None:
        """Columns department, key_hash, content_hash, batch_id; one row per key."""
        if frame.is_empty():
            return
        if self.dialect == "postgresql":
            self._stage()
            self._execute("TRUNCATE ingest_keys_stage")
            self._copy("ingest_keys_stage", frame)
            cols = "department, key_hash, content_hash, batch_id"
            self._execute(_UPSERT_KEYS.format(
                cols=cols, source=f"SELECT {cols} FROM ingest_keys_stage"))
            return
        fixed, varying = _split_constants(frame)
        cols = ", ".join([*varying.columns, *fixed])
        marks = ", ".join(["?"] * varying.width + list(fixed.values()))
        self.raw.executemany(_UPSERT_KEYS.format(cols=cols, source=f"VALUES ({marks})"),
                             _rows(varying))

    # -- PostgreSQL helpers ----------------------------------------------------------------------
    def _execute(self, sql: str) -> None:
        with self.raw.cursor() as cur:
            cur.execute(sql)

    def _stage(self) -> None:
        if self._staged:
            return
        # Temporary tables live in this connection only and vanish with it; ON COMMIT DROP ties
        # them to the load's transaction, so a pooled connection never carries them over.
        self._execute("CREATE TEMP TABLE IF NOT EXISTS ingest_keys_stage "
                      "(LIKE ingest_record_keys) ON COMMIT DROP")
        self._staged = True

    def _copy(self, table: str, frame: pl.DataFrame) -> None:
        copy_frame(self.raw, table, frame)


def copy_frame(raw: Any, table: str, frame: pl.DataFrame) -> None:
    """``COPY table FROM STDIN`` of a frame, written as CSV by Polars (psycopg connection)."""
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False, null_value="\\N", quote_style="necessary")
    cols = ", ".join(frame.columns)
    with raw.cursor() as cur, cur.copy(
            f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(buf.getbuffer())
