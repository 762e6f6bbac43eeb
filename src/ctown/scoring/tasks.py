"""Scoring runs (评分批次): the whole county in one batch, or only the subjects whose credit file
changed since an ingest batch. Reads the credit file in bulk (``pl.read_database``), scores with
Polars, writes grades in bulk; a grade change is a registry change event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.db import utcnow
from ctown.ingest.models import CurrentValue, IndicatorValue
from ctown.registry.models import Subject
from ctown.scoring import engine, features, review
from ctown.scoring.grades import GradeTable, load_grade_table
from ctown.scoring.model import metrics
from ctown.scoring.model.scorecard import Scorecard, from_dict
from ctown.scoring.models import GradeRecord, ScoringRun
from ctown.scoring.rules import RuleCard, load_rule_card
from ctown.scoring.service import SOURCE

if TYPE_CHECKING:
    from ctown.accounts.models import User

CHUNK = 50_000
RULE_ONLY = "rules-v{version}"


@dataclass
class Setup:
    table: GradeTable
    cards: dict[str, RuleCard]
    model: Scorecard | None
    version: str
    baseline: dict[str, Any] | None


def setup(session: Session) -> Setup:
    table = load_grade_table()
    cards = {k: load_rule_card(k) for k in ("household", "entity", "collective")}
    live = review.live_version(session)
    if live is None:
        return Setup(table, cards, None, RULE_ONLY.format(version=cards["household"].version),
                     None)
    return Setup(table, cards, from_dict(live.artifact), live.version,
                 live.metrics.get("score_distribution"))


def hist_specs(cards: dict[str, RuleCard], model: Scorecard | None) -> list[tuple[str, str, int]]:
    specs = [(f.indicator, f.match, f.window_months) for c in cards.values()
             for f in c.factors() if f.source == "history_count" and f.indicator]
    for name in model.names if model else []:
        if name.startswith("hist."):
            _h, code, match, months = name.split(".")
            specs.append((code, match, int(months)))
    return sorted(set(specs))


def as_of_date(session: Session) -> dt.date:
    """The credit file's own date (its latest observation), so windows follow the data."""
    latest = session.scalar(sa.select(sa.func.max(CurrentValue.observed_on)))
    if isinstance(latest, str):
        latest = dt.date.fromisoformat(latest[:10])
    return latest or utcnow().date()


def read_frame(session: Session, stmt: sa.Select[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """A query's rows as a frame, read through the driver (not as ORM rows): PostgreSQL streams
    CSV with ``COPY``, SQLite hands over plain tuples. Same transaction as the session."""
    session.flush()
    conn = session.connection()
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        buf = io.BytesIO()
        with raw.cursor() as cur, cur.copy(
                f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                buf.write(block)
        names = [c.name for c in stmt.selected_columns]
        if buf.tell() == 0:
            return pl.DataFrame(schema={n: schema.get(n, pl.Utf8) for n in names})
        return pl.read_csv(buf.getvalue(), schema_overrides={n: schema.get(n, pl.Utf8)
                                                             for n in names})
    cur = raw.cursor()
    try:
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        cur.close()
    # SQLite returns dates as text: read them as text, then parse the column at once.
    text_schema = {n: pl.Utf8 if schema.get(n) == pl.Date else schema.get(n) for n in names}
    frame = pl.DataFrame(rows, schema=text_schema, orient="row")
    dates = [n for n in names if schema.get(n) == pl.Date]
    return frame.with_columns([pl.col(n).str.slice(0, 10).str.to_date() for n in dates])


def needed_codes(st: Setup) -> list[str]:
    """Indicators the rule cards and the model read: only those are fetched from the file."""
    codes = {f.indicator for c in st.cards.values() for f in c.factors() if f.indicator}
    for name in st.model.names if st.model else []:
        parts = name.split(".")
        codes.add(parts[1] if parts[0] in ("head", "hist") else parts[0])
    return sorted(c for c in codes if c.startswith("I"))


def read_values(session: Session, members: sa.ScalarSelect[Any], codes: list[str] | None
                ) -> pl.DataFrame:
    """Current values of the ``members``, already pivoted by the database: one row per subject,
    one column per indicator (numbers from ``value_num``, codes from ``value_text``). The driver
    hands over one tuple per subject instead of one per value (≈17× fewer Python objects)."""
    numeric, coded = features.value_columns(codes)
    code_col = CurrentValue.indicator_code
    cols = [sa.func.max(sa.case((code_col == c, CurrentValue.value_num))).label(c)
            for c in numeric]
    cols += [sa.func.max(sa.case((code_col == c, CurrentValue.value_text))).label(c)
             for c in coded]
    stmt = (sa.select(CurrentValue.subject_id, *cols)
            .where(CurrentValue.subject_id.in_(members), code_col.in_(numeric + coded))
            .group_by(CurrentValue.subject_id))
    schema: dict[str, Any] = {"subject_id": pl.Int64, **dict.fromkeys(numeric, pl.Float64),
                              **dict.fromkeys(coded, pl.Utf8)}
    return read_frame(session, stmt, schema)


def read_counts(session: Session, subjects: sa.ScalarSelect[Any],
                specs: list[tuple[str, str, int]], as_of: dt.date) -> pl.DataFrame:
    """History records per subject within each window (``hist.*`` columns), counted by the
    database (the same rule as :func:`features.history_counts`)."""
    if not specs:
        return pl.DataFrame({"subject_id": []}, {"subject_id": pl.Int64})
    iv = IndicatorValue
    cols = []
    for code, match, months in specs:
        hit = iv.value_num > 0 if match == "positive" else iv.value_num == 1
        inside = sa.and_(iv.indicator_code == code,
                         iv.observed_on > features.history_window(as_of, months), hit)
        cols.append(sa.func.sum(sa.case((inside, 1.0), else_=0.0))
                    .label(f"hist.{code}.{match}.{months}"))
    since = min(features.history_window(as_of, m) for _c, _m, m in specs)
    stmt = (sa.select(iv.subject_id, *cols)
            .where(iv.subject_id.in_(subjects), iv.indicator_code.in_(sorted({c for c, _m, _w
                                                                           in specs})),
                   iv.observed_on > since, iv.observed_on <= as_of)
            .group_by(iv.subject_id))
    schema = {"subject_id": pl.Int64, **{c.name: pl.Float64 for c in cols}}
    return read_frame(session, stmt, schema)


SUBJECT_SCHEMA = {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8, "birth_date": pl.Date,
                  "household_id": pl.Int64, "relation": pl.Utf8}


def feature_frames(session: Session, ids: sa.ColumnElement[bool], st: Setup, as_of: dt.date,
                   all_codes: bool = False) -> dict[str, pl.DataFrame]:
    """Feature rows of households and entities selected by ``ids``; ``all_codes`` reads every
    indicator (training). Three bulk reads: the subjects with their household heads, the
    pivoted current values, the history counts."""
    specs = hist_specs(st.cards, st.model)
    subj = sa.select(Subject.id).where(ids).scalar_subquery()
    # Only the head's values and age enter a household's features: other members are not read.
    chosen = sa.or_(Subject.id.in_(subj),
                    Subject.household_id.in_(subj) & (Subject.relation == features.HEAD))
    subjects = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code,
                                             Subject.household_id, Subject.relation,
                                             Subject.birth_date).where(chosen), SUBJECT_SCHEMA)
    member = sa.select(Subject.id).where(chosen).scalar_subquery()
    values = read_values(session, member, None if all_codes else needed_codes(st))
    counts = read_counts(session, subj, specs, as_of)
    return {"household": features.household_rows(subjects, values, counts, as_of),
            "entity": features.entity_rows(subjects, values, counts)}


def _score_part(session: Session, st: Setup, kind: str, frame: pl.DataFrame, run: ScoringRun,
                actor: User | None, collect: list[pl.DataFrame]) -> int:
    if frame.height == 0:
        return 0
    model = st.model if kind == "household" else None
    scored = engine.score(frame, st.cards[kind], st.table, model)
    changed = write_grades(session, scored, version=st.version, run_id=run.id, actor=actor)
    collect.append(scored.frame.with_columns(pl.lit(kind).alias("kind")))
    return changed


# Writing grades: plain tuples through the driver (COPY on PostgreSQL, executemany on SQLite),
# no ORM objects and no per-row statement compilation. The rows and change events are exactly
# what service.record_grades_bulk writes (same columns, same event digest), only faster.
GRADE_COLS = ("subject_id", "score", "grade", "pd", "reasons", "model_version", "scored_at",
              "is_current", "run_id")
EVENT_COLS = ("occurred_at", "subject_id", "actor_id", "source", "action", "entity", "payload",
              "digest")


def _old_current(session: Session, ids: pl.Series) -> pl.DataFrame:
    """id, subject_id, grade and score of the current grades of ``ids``."""
    where = GradeRecord.is_current.is_(True)
    if ids.len() > 5000:  # one range scan rather than a long IN list, filtered below
        where = where & GradeRecord.subject_id.between(int(ids.min()), int(ids.max()))
    else:
        where = where & GradeRecord.subject_id.in_(ids.to_list())
    old = read_frame(session, sa.select(GradeRecord.id, GradeRecord.subject_id,
                                        GradeRecord.grade.label("old_grade"),
                                        GradeRecord.score.label("old_score")).where(where),
                     {"id": pl.Int64, "subject_id": pl.Int64, "old_grade": pl.Utf8,
                      "old_score": pl.Int64})
    return old.join(pl.DataFrame({"subject_id": ids}), on="subject_id", how="semi")


def _reasons_json(reasons: list[list[dict[str, Any]]] | None, n: int) -> list[str]:
    """Each subject's reasons as JSON text. The reason objects are shared between subjects
    (reasons.build builds each text once), so each is serialised once too."""
    if reasons is None:
        return ["[]"] * n
    memo: dict[int, str] = {}
    out = []
    for items in reasons:
        parts = []
        for item in items:
            text = memo.get(id(item))
            if text is None:
                text = memo[id(item)] = json.dumps(item, ensure_ascii=False)
            parts.append(text)
        out.append("[" + ", ".join(parts) + "]")
    return out


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
        out.append((now, int(sid), actor_id, SOURCE, action, "grade", payload,
                    hashlib.sha256(canon.encode()).hexdigest()))
    return out


def _bulk_insert(raw: Any, pg: bool, table: str, cols: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if pg:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        return
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", rows)
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
                 actor: User | int | None) -> int:
    """Keep the new grades as current (old ones stay as history) and write one change event per
    changed grade letter. Returns how many changed."""
    f = scored.frame
    if f.height == 0:
        return 0
    session.flush()
    old = _old_current(session, f["subject_id"])
    conn = session.connection()
    raw, pg = conn.connection.driver_connection, conn.dialect.name == "postgresql"
    now = utcnow()
    # SQLite keeps UTC datetimes as naive text, the way ctown.db.UTCDateTime writes them.
    stamp = now if pg else now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    _flip(raw, pg, old["id"].to_list())
    current = True if pg else 1
    rows = [(s, sc, g, round(p, 6), r, version, stamp, current, run_id)
            for s, sc, g, p, r in zip(f["subject_id"].to_list(), f["score"].to_list(),
                                      f["grade"].to_list(), f["pd"].to_list(),
                                      _reasons_json(scored.reasons, f.height), strict=True)]
    _bulk_insert(raw, pg, "grades", GRADE_COLS, rows)
    changed = (f.select("subject_id", "grade", "score").join(old, on="subject_id", how="left")
               .filter(pl.col("old_grade").is_null() | (pl.col("old_grade") != pl.col("grade"))))
    actor_id = actor if isinstance(actor, int) or actor is None else actor.id
    events = _events(changed, actor_id, version, now)
    if not pg:
        events = [(stamp, *e[1:]) for e in events]
    _bulk_insert(raw, pg, "change_events", EVENT_COLS, events)
    # Grade objects the session already holds must not claim to be current any more.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, GradeRecord):
            session.expire(obj)
    return changed.height


def _collectives(session: Session, st: Setup, as_of: dt.date, villages: list[str] | None
                 ) -> pl.DataFrame:
    """Village aggregates need every household of the village, read once for the villages."""
    where = Subject.kind.in_(("household", "collective"))
    if villages is not None:
        where = where & Subject.region_code.in_(villages)
    frames = feature_frames(session, where, st, as_of)
    subjects = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code)
                     .where(where & (Subject.kind == "collective")),
                     {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8})
    return features.collective_features(subjects, frames["household"], st.cards["collective"])


def _start(session: Session, mode: str, st: Setup, since: int | None) -> ScoringRun:
    run = ScoringRun(mode=mode, model_version=st.version, since_batch_id=since,
                     started_at=utcnow())
    session.add(run)
    session.flush()
    return run


def _finish(session: Session, run: ScoringRun, st: Setup, parts: list[pl.DataFrame],
            changed: int, t0: float) -> dict[str, Any]:
    from ctown.ingest.models import Batch

    done = pl.concat(parts, how="diagonal_relaxed") if parts else None
    run.scored = done.height if done is not None else 0
    run.changed = changed
    run.upto_batch_id = session.scalar(sa.select(sa.func.max(Batch.id)))
    run.finished_at = utcnow()
    run.seconds = round(time.perf_counter() - t0, 3)
    run.distribution = _distribution(done, st)
    session.flush()
    return {"run_id": run.id, "mode": run.mode, "scored": run.scored, "changed": changed,
            "seconds": run.seconds, "model_version": st.version,
            "grades": run.distribution.get("grades", {})}


def _distribution(done: pl.DataFrame | None, st: Setup) -> dict[str, Any]:
    if done is None or done.height == 0:
        return {}
    out: dict[str, Any] = {"grades": engine.grade_counts(done)}
    households = done.filter(pl.col("kind") == "household")
    if st.baseline and households.height and households["model_score"].null_count() == 0:
        edges = np.asarray(st.baseline["edges"], float)
        expected = np.asarray(st.baseline["shares"], float)
        actual = np.bincount(np.searchsorted(edges, households["model_score"].to_numpy(),
                                             side="right"), minlength=len(edges) + 1)
        out["model_score_shares"] = (actual / actual.sum()).round(6).tolist()
        out["psi"] = round(metrics.psi_from_shares(expected, actual / actual.sum()), 4)
    return out


def score_all(session: Session, actor: User | None = None, *, id_from: int | None = None,
              id_to: int | None = None, chunk: int = CHUNK) -> dict[str, Any]:
    """Score every household and entity (in id ranges of ``chunk``) and every village."""
    t0 = time.perf_counter()
    st = setup(session)
    as_of = as_of_date(session)
    whole = id_from is None and id_to is None
    run = _start(session, "all" if whole else "range", st, None)
    lo = id_from if id_from is not None else session.scalar(sa.select(sa.func.min(Subject.id)))
    hi = id_to if id_to is not None else session.scalar(sa.select(sa.func.max(Subject.id)))
    village_cols = _village_columns(st)
    parts: list[pl.DataFrame] = []
    households: list[pl.DataFrame] = []
    changed = 0
    start = lo or 0
    while hi is not None and start <= hi:
        end = min(start + chunk - 1, hi)
        ids = Subject.id.between(start, end) & Subject.kind.in_(("household", "entity"))
        frames = feature_frames(session, ids, st, as_of)
        for kind in ("household", "entity"):
            changed += _score_part(session, st, kind, frames[kind], run, actor, parts)
        hh = frames["household"]
        households.append(hh.select([c for c in ("region_code", *village_cols)
                                     if c in hh.columns]))
        start = end + 1
    if whole:
        collectives = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code)
                            .where(Subject.kind == "collective"),
                            {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8})
        hh_all = pl.concat(households, how="diagonal_relaxed") if households else \
            pl.DataFrame({"region_code": []}, {"region_code": pl.Utf8})
        frame = features.collective_features(collectives, hh_all, st.cards["collective"])
        changed += _score_part(session, st, "collective", frame, run, actor, parts)
    return _finish(session, run, st, parts, changed, t0)


def _village_columns(st: Setup) -> list[str]:
    return sorted({f.indicator for f in st.cards["collective"].factors() if f.indicator})


def changed_subjects(session: Session, since_batch_id: int) -> list[int]:
    """Households and entities whose values (or whose members' values) arrived after a batch."""
    touched = (sa.select(IndicatorValue.subject_id)
               .where(IndicatorValue.batch_id > since_batch_id).distinct().scalar_subquery())
    owners = sa.select(sa.func.coalesce(Subject.household_id, Subject.id)).where(
        Subject.id.in_(touched))
    return sorted({int(i) for i in session.scalars(owners)})


def rescore_changed(session: Session, since_batch_id: int, actor: User | None = None
                    ) -> dict[str, Any]:
    """Incremental run: only the subjects changed since ``since_batch_id``, and their villages."""
    t0 = time.perf_counter()
    st = setup(session)
    as_of = as_of_date(session)
    run = _start(session, "incremental", st, since_batch_id)
    ids = changed_subjects(session, since_batch_id)
    parts: list[pl.DataFrame] = []
    changed = 0
    for i in range(0, len(ids), 5000):
        where = Subject.id.in_(ids[i:i + 5000]) & Subject.kind.in_(("household", "entity"))
        frames = feature_frames(session, where, st, as_of)
        for kind in ("household", "entity"):
            changed += _score_part(session, st, kind, frames[kind], run, actor, parts)
    if ids:
        villages = sorted({code for i in range(0, len(ids), 5000) for code in session.scalars(
            sa.select(Subject.region_code).where(Subject.id.in_(ids[i:i + 5000])))})
        changed += _score_part(session, st, "collective",
                               _collectives(session, st, as_of, villages), run, actor, parts)
    return _finish(session, run, st, parts, changed, t0)


def last_run(session: Session) -> ScoringRun | None:
    return session.scalars(sa.select(ScoringRun).order_by(ScoringRun.id.desc()).limit(1)).first()
