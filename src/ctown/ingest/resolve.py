"""Identity resolution (身份识别, R-1.6): rows land on one subject through the blind index.

Each distinct identifier is hashed once per process (``FieldCipher.blind_indexes``); the look-up
is ``ctown.registry.tasks.register_map`` (one statement per chunk, the keys as one bound array),
through the run's memo of the register when a county is loaded (:class:`Directory`). Rows without
a valid identifier are matched on name + birth date + village and, when exactly one person
matches, held for a person to confirm.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.crypto import FieldCipher
from ctown.ingest.mapping import DepartmentMapping
from ctown.ingest.validate import ID, SEQ
from ctown.registry import tasks as registry
from ctown.registry.models import Subject

if TYPE_CHECKING:
    from ctown.ingest.models import Batch

SUBJECT = "__subject__"
INDEX = "__index__"


def index_of(cipher: FieldCipher, kind: str, ids: pl.Series) -> pl.Series:
    """The text that stands for each identifier in keys and look-ups (its blind index for a
    resident ID; credit codes and division codes are public and stand for themselves)."""
    if kind != "resident_id":
        return ids.fill_null("").alias(INDEX)
    index = cipher.blind_indexes(ids.drop_nulls().unique().to_list())
    return ids.replace_strict(index, default="", return_dtype=pl.String).alias(INDEX)


class Directory:
    """Identifier → subject for a whole county load (run-level memo of the register).

    A county load looks up the same 200,000 people once per department file; reading the
    register once and asking the database only for what the memo does not know (a person
    registered since, an unknown identifier) took a tenth of a PostgreSQL load. A load
    resolves identities against the register as it stood when the memo was read, plus what
    its own registry files changed: loading a registry department's file clears the memo.
    """

    def __init__(self) -> None:
        self.maps: dict[tuple[str, str], dict[str, int]] = {}

    def clear(self) -> None:
        self.maps.clear()

    def get(self, session: Session, kind: str, subject_kind: str) -> dict[str, int]:
        key = (kind, subject_kind)
        if key not in self.maps:
            self.maps[key] = registry.register_map(session, kind, subject_kind)
        return self.maps[key]


class Resolver:
    def __init__(self, session: Session, cipher: FieldCipher, mapping: DepartmentMapping,
                 directory: Directory | None = None) -> None:
        self.session, self.cipher, self.mapping = session, cipher, mapping
        self.directory = directory
        self.kind = mapping.identity.kind

    # -- blind index ---------------------------------------------------------------------------
    def index_of(self, ids: pl.Series) -> pl.Series:
        return index_of(self.cipher, self.kind, ids)

    # -- look-up --------------------------------------------------------------------------------
    def attach_subjects(self, ok: pl.DataFrame) -> pl.DataFrame:
        if SUBJECT not in ok.columns:
            ok = ok.with_columns(pl.lit(None, pl.Int64).alias(SUBJECT))
        todo = ok.filter(pl.col(SUBJECT).is_null())[ID].drop_nulls().unique().to_list()
        found = self.lookup(todo)
        return ok.with_columns(pl.col(SUBJECT).fill_null(
            pl.col(ID).replace_strict(found, default=None, return_dtype=pl.Int64)))

    def lookup(self, identifiers: list[str]) -> dict[str, int]:
        """Identifier → subject id (``ctown.registry.tasks.resolve``, through the run's memo)."""
        if not identifiers:
            return {}
        if self.kind != "resident_id":
            return self._find(identifiers)
        index = {v: k for k, v in self.cipher.blind_indexes(identifiers).items()}
        return {index[k]: sid for k, sid in self._find(list(index)).items()}

    def _find(self, keys: list[str]) -> dict[str, int]:
        subject_kind = self.mapping.subject_kind
        if self.directory is None:
            return registry.register_map(self.session, self.kind, subject_kind, keys)
        known = self.directory.get(self.session, self.kind, subject_kind)
        missing = [k for k in keys if k not in known]
        if missing:
            known.update(registry.register_map(self.session, self.kind, subject_kind, missing))
        return {k: known[k] for k in keys if k in known}

    # -- registry departments ---------------------------------------------------------------------
    def upsert(self, ok: pl.DataFrame, batch: Batch, today: dt.date) -> dict[str, int]:
        """Create or update the subjects the household or business register describes."""
        if ok.is_empty():
            return {}
        source = f"ingest:{self.mapping.code}:{batch.id}"
        if self.kind == "uscc":
            frame = ok.select(pl.col(ID).alias("credit_code"), *_cols(ok, {
                "name": pl.String, "entity_type": pl.String, "village_code": pl.String,
                "legal_rep_id": pl.String}))
            return registry.upsert_entities(self.session, frame, actor=batch.actor_id,
                                            source=source)
        frame = ok.select(pl.col(ID).alias("resident_id"), *_cols(ok, {
            "household_no": pl.String, "name": pl.String, "relation": pl.String,
            "gender": pl.String, "birth_date": pl.Date, "village_code": pl.String,
            "phone": pl.String}))
        frame = frame.with_columns(
            pl.col("gender").fill_null(pl.when(pl.col("resident_id").str.slice(16, 1)
                                               .cast(pl.Int32) % 2 == 1).then(pl.lit("M"))
                                       .otherwise(pl.lit("F"))),
            pl.col("birth_date").fill_null(pl.col("resident_id").str.slice(6, 8)
                                           .str.to_date("%Y%m%d", strict=False)))
        return registry.upsert_people(self.session, self.cipher, frame, actor=batch.actor_id,
                                      source=source)

    # -- fallback: name + birth date + village ----------------------------------------------------
    def fallback(self, rows: pl.DataFrame, forced: dict[int, int]
                 ) -> tuple[pl.DataFrame, dict[int, int], list[int]]:
        """(rows attributed by a person's confirmation, seq → candidate to hold, unmatched seqs)."""
        confirmed = rows.filter(pl.col(SEQ).is_in(list(forced)))
        if confirmed.height:
            confirmed = confirmed.with_columns(pl.col(SEQ).replace_strict(
                forced, return_dtype=pl.Int64).alias(SUBJECT))
        rest = rows.filter(~pl.col(SEQ).is_in(list(forced)))
        fb = self.mapping.fallback
        cols = self.mapping.columns
        if fb is None or rest.is_empty():
            return confirmed, {}, rest[SEQ].to_list()
        names = {f: cols[getattr(fb, f)].target if getattr(fb, f) in cols else None
                 for f in ("name", "birth_date", "village")}
        present = {f: n for f, n in names.items() if n is not None and n in rest.columns}
        if len(present) < len(names):
            return confirmed, {}, rest[SEQ].to_list()
        probe = rest.select(pl.col(SEQ), pl.col(present["name"]).alias("name"),
                            pl.col(present["birth_date"]).cast(pl.Date).alias("birth_date"),
                            pl.col(present["village"]).alias("region_code")).drop_nulls()
        held = self._match(probe)
        unmatched = [s for s in rest[SEQ].to_list() if s not in held]
        return confirmed, held, unmatched

    def _match(self, probe: pl.DataFrame) -> dict[int, int]:
        if probe.is_empty():
            return {}
        target = Subject.household_id if self.mapping.subject_kind == "household" else Subject.id
        people = self.session.execute(
            sa.select(Subject.name, Subject.birth_date, Subject.region_code, target)
            .where(Subject.kind == "person", target.is_not(None),
                   Subject.name.in_(probe["name"].unique().to_list()),
                   Subject.region_code.in_(probe["region_code"].unique().to_list()))).all()
        if not people:
            return {}
        found = pl.DataFrame([tuple(p) for p in people], orient="row", schema={
            "name": pl.String, "birth_date": pl.Date, "region_code": pl.String, "sid": pl.Int64})
        unique = found.group_by("name", "birth_date", "region_code").agg(
            pl.col("sid").n_unique().alias("n"), pl.col("sid").first())
        matched = probe.join(unique.filter(pl.col("n") == 1),
                             on=["name", "birth_date", "region_code"], how="inner")
        return dict(zip(matched[SEQ].to_list(), matched["sid"].to_list(), strict=True))


def _cols(frame: pl.DataFrame, wanted: dict[str, type[pl.DataType] | pl.DataType]
          ) -> list[pl.Expr]:
    return [pl.col(n).cast(t) if n in frame.columns else pl.lit(None, t).alias(n)
            for n, t in wanted.items()]
