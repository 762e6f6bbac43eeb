"""Scoring runs (评分批次): the whole county in one batch, or only the subjects whose credit file
changed since an ingest batch. Reads the credit file in bulk (``pl.read_database``), scores with
Polars, writes grades in bulk; a grade change is a registry change event.
"""

from __future__ import annotations

import datetime as dt
import io
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
from ctown.scoring.models import ScoringRun
from ctown.scoring.rules import RuleCard, load_rule_card
from ctown.scoring.service import record_grades_bulk

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


def read_frames(session: Session, ids: sa.ColumnElement[bool], specs: list[tuple[str, str, int]],
                as_of: dt.date, codes: list[str] | None = None
                ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Subjects selected by ``ids`` (plus the persons of selected households), their current
    values and the history records the windows need — three bulk reads."""
    subj = sa.select(Subject.id).where(ids).scalar_subquery()
    chosen = sa.or_(Subject.id.in_(subj), Subject.household_id.in_(subj))
    subjects = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code,
                                        Subject.household_id, Subject.relation,
                                        Subject.birth_date).where(chosen),
                     {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8,
                      "birth_date": pl.Date, "household_id": pl.Int64, "relation": pl.Utf8})
    member = sa.select(Subject.id).where(chosen).scalar_subquery()
    current = read_frame(session, sa.select(CurrentValue.subject_id, CurrentValue.indicator_code,
                                       CurrentValue.value_num, CurrentValue.value_text)
                    .where(CurrentValue.subject_id.in_(member),
                           CurrentValue.indicator_code.in_(codes) if codes else sa.true()),
                    {"subject_id": pl.Int64, "indicator_code": pl.Utf8, "value_num": pl.Float64,
                     "value_text": pl.Utf8})
    hist_codes = sorted({c for c, _m, _w in specs})
    months = max([w for _c, _m, w in specs], default=12)
    since = as_of - dt.timedelta(days=round(months * 30.44) + 1)
    history = read_frame(session, sa.select(IndicatorValue.subject_id, IndicatorValue.indicator_code,
                                       IndicatorValue.value_num, IndicatorValue.observed_on)
                    .where(IndicatorValue.subject_id.in_(subj),
                           IndicatorValue.indicator_code.in_(hist_codes),
                           IndicatorValue.observed_on > since),
                    {"subject_id": pl.Int64, "indicator_code": pl.Utf8, "value_num": pl.Float64,
                     "observed_on": pl.Date})
    return subjects, current, history


def feature_frames(session: Session, ids: sa.ColumnElement[bool], st: Setup, as_of: dt.date,
                   all_codes: bool = False) -> dict[str, pl.DataFrame]:
    """Feature rows of households and entities; ``all_codes`` reads every indicator (training)."""
    specs = hist_specs(st.cards, st.model)
    subjects, current, history = read_frames(session, ids, specs, as_of,
                                             None if all_codes else needed_codes(st))
    return {"household": features.household_features(subjects, current, history, as_of, specs),
            "entity": features.entity_features(subjects, current, history, as_of, specs)}


def _rows(scored: engine.Scored, version: str) -> list[dict[str, Any]]:
    f = scored.frame
    reasons = scored.reasons or [[] for _ in range(f.height)]
    return [{"subject_id": s, "score": sc, "grade": g, "pd": round(p, 6), "reasons": r,
             "model_version": version}
            for s, sc, g, p, r in zip(f["subject_id"].to_list(), f["score"].to_list(),
                                      f["grade"].to_list(), f["pd"].to_list(), reasons,
                                      strict=True)]


def _score_part(session: Session, st: Setup, kind: str, frame: pl.DataFrame, run: ScoringRun,
                actor: User | None, collect: list[pl.DataFrame]) -> int:
    if frame.height == 0:
        return 0
    model = st.model if kind == "household" else None
    scored = engine.score(frame, st.cards[kind], st.table, model)
    changed = record_grades_bulk(session, _rows(scored, st.version), actor=actor, run_id=run.id)
    collect.append(scored.frame.with_columns(pl.lit(kind).alias("kind")))
    return changed


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
