"""Scoring runs (评分批次): the whole county in one batch, or only the subjects whose credit file
changed since an ingest batch. Reads the credit file in bulk (:mod:`reading`), scores with Polars
(:mod:`engine`), writes grades in bulk (:mod:`writing`); a grade change is a registry change event.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.db import utcnow
from ctown.ingest.models import CurrentValue, IndicatorValue
from ctown.registry.models import Subject
from ctown.scoring import engine, features
from ctown.scoring.model import metrics
from ctown.scoring.models import ScoringRun
from ctown.scoring.reading import as_of_date, feature_frames, prefetched, read_frame, read_values, side_reader
from ctown.scoring.run_setup import RULE_ONLY, Setup, setup, village_columns
from ctown.scoring.writing import GradeWriter, old_current, write_grades

if TYPE_CHECKING:
    from ctown.accounts.models import User

# Re-exported: callers (county model, views, benchmarks) use them through ``tasks``.
__all__ = ["CHUNK", "RULE_ONLY", "Setup", "as_of_date", "feature_frames", "last_run",
           "read_frame", "rescore_changed", "score_all", "setup", "write_grades"]

CHUNK = 50_000
SCORED_KINDS = ("household", "entity")


def _scored(st: Setup, kind: str, frame: pl.DataFrame, collect: list[pl.DataFrame]
            ) -> engine.Scored:
    model = st.model if kind == "household" else None
    scored = engine.score(frame, st.cards[kind], st.table, model)
    collect.append(scored.frame.with_columns(pl.lit(kind).alias("kind")))
    return scored


def _score_part(session: Session, st: Setup, kind: str, frame: pl.DataFrame, run: ScoringRun,
                actor: User | None, collect: list[pl.DataFrame]) -> int:
    if frame.height == 0:
        return 0
    return write_grades(session, _scored(st, kind, frame, collect), version=st.version,
                        run_id=run.id, actor=actor)


def _collectives(session: Session, st: Setup, villages: list[str]) -> pl.DataFrame:
    """Village aggregates need every household of the village, but only the few indicators the
    collective card averages: those are read (pivoted) for the villages' households."""
    in_villages = Subject.region_code.in_(villages)
    households = read_frame(session, sa.select(Subject.id.label("subject_id"),
                                               Subject.region_code)
                            .where(in_villages & (Subject.kind == "household")),
                            {"subject_id": pl.Int64, "region_code": pl.Utf8})
    ids = sa.select(Subject.id).where(in_villages & (Subject.kind == "household"))
    values = read_values(session, CurrentValue.subject_id.in_(ids.scalar_subquery()),
                         village_columns(st))
    collectives = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code)
                             .where(in_villages & (Subject.kind == "collective")),
                             {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8})
    frame = households.join(values, on="subject_id", how="left")
    return features.collective_features(collectives, frame, st.cards["collective"])


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
    """Score every household and entity (in id ranges of ``chunk``) and every village.

    On PostgreSQL the next chunk is read on a second connection (same snapshot) while this one
    is scored and written, so the server reads and writes on both cores at once."""
    t0 = time.perf_counter()
    st = setup(session)
    as_of = as_of_date(session)
    whole = id_from is None and id_to is None
    lo = id_from if id_from is not None else session.scalar(sa.select(sa.func.min(Subject.id)))
    hi = id_to if id_to is not None else session.scalar(sa.select(sa.func.max(Subject.id)))
    spans = _spans(session, lo or 0, hi, chunk) if hi is not None else []
    parts: list[pl.DataFrame] = []
    households: list[pl.DataFrame] = []
    changed = 0
    # The side reader must start before the run writes anything (its row in scoring_runs).
    with side_reader(session) as side:
        run = _start(session, "all" if whole else "range", st, None)
        ahead = side is not None

        def read(span: tuple[int, int]) -> dict[str, pl.DataFrame]:
            ids = Subject.id.between(*span) & Subject.kind.in_(SCORED_KINDS)
            frames = feature_frames(side or session, ids, st, as_of, id_range=span)
            # The span's current grades, read with its credit file and before this run writes
            # any of them (a query on grades while the run fills it would scan the new rows).
            return {**frames, "old": old_current(side or session, id_range=span)}

        # Three stages at once when reading ahead: the server reads chunk k+1 (side
        # connection), Python scores chunk k, the server stores chunk k−1 (this connection).
        writer = GradeWriter(session, version=st.version, run_id=run.id, actor=actor,
                             background=ahead)
        try:
            with contextlib.closing(prefetched(spans, read, ahead=ahead)) as chunks:
                for _span, frames in chunks:
                    for kind in SCORED_KINDS:
                        if frames[kind].height:
                            writer.write(_scored(st, kind, frames[kind], parts), frames["old"])
                    hh = frames["household"]
                    households.append(hh.select([c for c in ("region_code", *village_columns(st))
                                                 if c in hh.columns]))
        finally:
            changed += writer.close()
    if whole:
        collectives = read_frame(session, sa.select(Subject.id, Subject.kind, Subject.region_code)
                                 .where(Subject.kind == "collective"),
                                 {"id": pl.Int64, "kind": pl.Utf8, "region_code": pl.Utf8})
        hh_all = pl.concat(households, how="diagonal_relaxed") if households else \
            pl.DataFrame({"region_code": []}, {"region_code": pl.Utf8})
        frame = features.collective_features(collectives, hh_all, st.cards["collective"])
        changed += _score_part(session, st, "collective", frame, run, actor, parts)
    return _finish(session, run, st, parts, changed, t0)


def _spans(session: Session, lo: int, hi: int, chunk: int) -> list[tuple[int, int]]:
    """Id ranges of ``chunk`` households and entities each from ``lo`` to ``hi``: chunks hold
    the same number of scored subjects however persons' ids are interleaved, and skip gaps.
    All ranges are known before reading, so the next one can be read ahead."""
    ids = read_frame(session, sa.select(Subject.id).where(
        Subject.kind.in_(SCORED_KINDS), Subject.id.between(lo, hi)).order_by(Subject.id),
        {"id": pl.Int64})["id"].sort().to_list()
    if not ids:
        return []
    starts = ids[::chunk]
    ends = [*(ids[i - 1] for i in range(chunk, len(ids), chunk)), hi]
    return list(zip(starts, ends, strict=True))


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
                               _collectives(session, st, villages), run, actor, parts)
    return _finish(session, run, st, parts, changed, t0)


def last_run(session: Session) -> ScoringRun | None:
    return session.scalars(sa.select(ScoringRun).order_by(ScoringRun.id.desc()).limit(1)).first()
