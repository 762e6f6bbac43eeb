"""Writing a run's grades: plain tuples through the driver (COPY on PostgreSQL, executemany on
SQLite), no ORM objects and no per-row statement compilation. The rows and change events are
exactly what ``service.record_grades_bulk`` writes (same columns, same event digest), only faster.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import appendorder
from ctown.db import driver_connection, utcnow
from ctown.scoring import engine
from ctown.scoring.models import GradeRecord
from ctown.scoring.reading import read_frame
from ctown.scoring.service import SOURCE

if TYPE_CHECKING:
    from ctown.accounts.models import User


def old_current(session: Session, ids: pl.Series | None = None,
                id_range: tuple[int, int] | None = None) -> pl.DataFrame:
    """id, subject_id, grade and score of the current grades of ``ids`` (or of every subject in
    ``id_range``: a whole-county run reads them with the chunk, before it writes anything)."""
    where: sa.ColumnElement[bool] = GradeRecord.is_current.is_(True)
    if id_range is not None:
        where = where & GradeRecord.subject_id.between(*id_range)
    elif ids is not None and ids.len() > 5000:  # one range scan rather than a long IN list
        low, high = cast(int, ids.min()), cast(int, ids.max())  # of Int64 ids: ints
        where = where & GradeRecord.subject_id.between(int(low), int(high))
    elif ids is not None:
        where = where & GradeRecord.subject_id.in_(ids.to_list())
    old = read_frame(session, sa.select(GradeRecord.id, GradeRecord.subject_id,
                                        GradeRecord.grade.label("old_grade"),
                                        GradeRecord.score.label("old_score")).where(where),
                     {"id": pl.Int64, "subject_id": pl.Int64, "old_grade": pl.Utf8,
                      "old_score": pl.Int64})
    return old if ids is None else old.join(pl.DataFrame({"subject_id": ids}), on="subject_id",
                                            how="semi")


def _events(changed: pl.DataFrame, actor_id: int | None, version: str, now: dt.datetime
            ) -> list[tuple[Any, ...]]:
    """Grade change events with the digest of registry.events.canonical, built from a text
    template (sorted keys, no spaces) instead of a json.dumps per event."""
    when = now.astimezone(dt.UTC).isoformat()
    mv = json.dumps(version, ensure_ascii=False)
    actor = "null" if actor_id is None else str(int(actor_id))
    out = []
    for sid, grade, score, og, osc in changed.select(
            "subject_id", "grade", "score", "old_grade", "old_score").iter_rows():
        payload = (f'{{"from":{"null" if og is None else json.dumps(og)},'
                   f'"from_score":{"null" if osc is None else int(osc)},"model_version":{mv},'
                   f'"to":{json.dumps(grade)},"to_score":{int(score)}}}')
        action = "create" if og is None else "update"
        canon = (f'{{"action":"{action}","actor_id":{actor},"entity":"grade",'
                 f'"occurred_at":"{when}","payload":{payload},"source":"{SOURCE}",'
                 f'"subject_id":{int(sid)}}}')
        out.append((int(sid), actor_id, action, payload,
                    hashlib.sha256(canon.encode()).hexdigest()))
    return out


def _bulk_insert(raw: Any, pg: bool, table: str, frame: pl.DataFrame) -> None:
    """PostgreSQL: the frame as one CSV text through ``COPY`` (written by Polars, not row by
    row); SQLite: ``executemany`` over plain tuples."""
    if frame.height == 0:
        return
    appendorder.before_insert(raw, table, pg)
    cols = ", ".join(frame.columns)
    if pg:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN "
                                           "WITH (FORMAT csv)") as cp:
            cp.write(frame.write_csv(include_header=False, null_value=""))
        return
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES "
                        f"({', '.join('?' * frame.width)})", frame.iter_rows())
    finally:
        cur.close()


def _flip(raw: Any, pg: bool, ids: list[int]) -> None:
    """The old current grades become history."""
    cur = raw.cursor()
    try:
        if pg:
            cur.execute("UPDATE grades SET is_current = false WHERE id = ANY(%s)", (ids,))
            return
        for i in range(0, len(ids), 5000):
            part = ids[i:i + 5000]
            cur.execute(f"UPDATE grades SET is_current = 0 WHERE id IN "
                        f"({', '.join('?' * len(part))})", part)
    finally:
        cur.close()


def write_grades(session: Session, scored: engine.Scored, *, version: str, run_id: int | None,
                 actor: User | int | None, old: pl.DataFrame | None = None) -> int:
    """Keep the new grades as current (old ones stay as history) and write one change event per
    changed grade letter. ``old``: the current grades of these subjects if already read (see
    :func:`old_current`). Returns how many changed."""
    f = scored.frame
    if f.height == 0:
        return 0
    session.flush()
    old = (old_current(session, f["subject_id"]) if old is None
           else old.join(f.select("subject_id"), on="subject_id", how="semi"))
    conn = session.connection()
    raw, pg = driver_connection(conn), conn.dialect.name == "postgresql"
    now = utcnow()
    # Times as text: ISO with offset for PostgreSQL, naive UTC for SQLite (as UTCDateTime does).
    stamp = now.isoformat() if pg else now.replace(tzinfo=None).isoformat(
        sep=" ", timespec="microseconds")
    _flip(raw, pg, old["id"].to_list())
    reasons = (scored.reasons_json if scored.reasons_json is not None
               else pl.Series(["[]"] * f.height))
    grades = f.select("subject_id", "score", "grade", pl.col("pd").round(6),
                      reasons.alias("reasons"), pl.lit(version).alias("model_version"),
                      pl.lit(stamp).alias("scored_at"),
                      (pl.lit(True) if pg else pl.lit(1)).alias("is_current"),
                      pl.lit(run_id, pl.Int64).alias("run_id"))
    _bulk_insert(raw, pg, "grades", grades)
    changed = (f.select("subject_id", "grade", "score").join(old, on="subject_id", how="left")
               .filter(pl.col("old_grade").is_null() | (pl.col("old_grade") != pl.col("grade"))))
    actor_id = actor if isinstance(actor, int) or actor is None else actor.id
    events = _events(changed, actor_id, version, now)
    _bulk_insert(raw, pg, "change_events", pl.DataFrame(
        events, schema={"subject_id": pl.Int64, "actor_id": pl.Int64, "action": pl.Utf8,
                        "payload": pl.Utf8, "digest": pl.Utf8}, orient="row").select(
        pl.lit(stamp).alias("occurred_at"), "subject_id", "actor_id",
        pl.lit(SOURCE).alias("source"), "action", pl.lit("grade").alias("entity"), "payload",
        "digest"))
    # Grade objects the session already holds must not claim to be current any more.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, GradeRecord):
            session.expire(obj)
    return changed.height


class GradeWriter:
    """:func:`write_grades` of one scored part after another. With ``background``, each write
    runs in a thread while the caller scores the next part (the driver releases the GIL while
    the server stores the rows); one write at most is in flight, and the caller must not use
    ``session`` until :meth:`close` returns."""

    def __init__(self, session: Session, *, version: str, run_id: int | None,
                 actor: User | int | None, background: bool) -> None:
        self.session, self.version, self.run_id, self.actor = session, version, run_id, actor
        self.changed = 0
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-write")
                      if background else None)
        self._pending: Future[int] | None = None

    def write(self, scored: engine.Scored, old: pl.DataFrame | None = None) -> None:
        if self._pool is None:
            self.changed += self._write(scored, old)
            return
        self._wait()
        self._pending = self._pool.submit(self._write, scored, old)

    def _write(self, scored: engine.Scored, old: pl.DataFrame | None) -> int:
        return write_grades(self.session, scored, version=self.version, run_id=self.run_id,
                            actor=self.actor, old=old)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.changed += pending.result()

    def close(self) -> int:
        """Wait for the last write; how many grades changed in all."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        return self.changed
