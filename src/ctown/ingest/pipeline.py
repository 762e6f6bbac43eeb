"""One batch through the pipeline (入库流程): validate → duplicates → registry → identity → store.

:class:`BatchLoad` works inside the caller's transaction, chunk by chunk, and keeps only counters
between chunks, so memory stays flat however long the file. Every row of a chunk ends in exactly
one of: accepted, quarantined (possibly held for an identity confirmation), duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.catalogue.schemas import Catalogue
from ctown.crypto import FieldCipher
from ctown.ingest import hold
from ctown.ingest import messages as msg
from ctown.ingest import normalise as nz
from ctown.ingest.digest import digests
from ctown.ingest.mapping import DepartmentMapping
from ctown.ingest.messages import Reason
from ctown.ingest.models import Batch, PendingMatch, QuarantinedRow
from ctown.ingest.readers import ROW, Chunk
from ctown.ingest.resolve import INDEX, SUBJECT, Directory, Resolver, index_of
from ctown.ingest.store import Store
from ctown.ingest.validate import (
    CONTENT,
    ID,
    KEY,
    OBSERVED,
    SEP,
    SEQ,
    Context,
    Validated,
    canonical_columns,
    validate,
)
from ctown.registry.models import Region, Subject

NUMERIC_TYPES = ("integer", "decimal", "boolean")


def quarantine_aad(batch_id: int, seq: int) -> str:
    return f"quarantined_rows.payload:{batch_id}:{seq}"


@dataclass
class Counts:
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    held: int = 0
    duplicates: int = 0
    values: int = 0
    held_values: int = 0
    registry: dict[str, int] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """A chunk numbered and validated — work that needs no database, so the read-ahead
    (:mod:`ctown.ingest.readahead`) does it for the next file while this one is written."""

    frame: pl.DataFrame  # the chunk's rows with SEQ
    sheet: str | None
    validated: Validated
    end: int  # first seq after this chunk


def prepare(ctx: Context, chunk: Chunk, first_seq: int, seqs: pl.Series | None = None
            ) -> Prepared | None:
    """Number and validate a chunk (no database: the read-ahead runs it in its thread). The
    record keys are hashed later, on the loading thread: on SQLite, whose work runs in this
    process, more Python in the read-ahead thread slowed the load (measured: 74.0 s against
    76.5 s for the county)."""
    frame = chunk.frame
    if frame.is_empty():
        return None
    if seqs is None:
        seqs = pl.int_range(first_seq, first_seq + frame.height, eager=True, dtype=pl.Int64)
    frame = frame.with_columns(seqs.alias(SEQ))
    end = max(first_seq, int(cast(int, seqs.max())) + 1)  # max() of integer seqs: an int
    return Prepared(frame, chunk.sheet, validate(ctx, frame), end)


def hash_keys(ok: pl.DataFrame, cipher: FieldCipher, kind: str) -> pl.DataFrame:
    """Keyed hashes of the record key and of the content (duplicates, R-1.5): the identifier
    enters as its blind index, so the hashes reveal nothing without the index key."""
    index = index_of(cipher, kind, ok[ID])
    key_text = pl.concat_str([pl.col(INDEX), pl.col(KEY).fill_null("")], separator=SEP)
    frame = ok.select(KEY, CONTENT).with_columns(index).select(
        key_text.alias("k"), pl.concat_str([key_text, pl.col(CONTENT)], separator=SEP).alias("c"))
    sha = hashlib.sha256
    keys = [sha(t).hexdigest()[:32] for t in frame["k"].cast(pl.Binary).to_list()]
    contents = [sha(t).hexdigest()[:32] for t in frame["c"].cast(pl.Binary).to_list()]
    return ok.with_columns(pl.Series("__kh__", keys, pl.String),
                           pl.Series("__ch__", contents, pl.String))


class BatchLoad:
    """Loads the chunks of one batch; ``forced`` (seq → subject id) attributes rows whose identity
    a person has confirmed; ``keep_results`` collects each row's outcome (push API).

    Values, record keys and quarantined rows carry the batch's department (who sent it), not the
    mapping's code: a registered department may read its rows with another's mapping
    (:mod:`ctown.ingest.feeds`), and its clerks reach its rows by its own code."""

    def __init__(self, session: Session, cipher: FieldCipher, mapping: DepartmentMapping,
                 catalogue: Catalogue, batch: Batch, *, now: dt.datetime,
                 forced: dict[int, int] | None = None, keep_results: bool = False,
                 directory: Directory | None = None) -> None:
        self.session, self.cipher, self.mapping, self.catalogue = session, cipher, mapping, catalogue
        self.batch, self.now = batch, now
        self.today = rules.today(now)
        villages = set(session.scalars(sa.select(Region.code).where(Region.level == "village")))
        self.ctx = Context(mapping, catalogue, villages)
        self.store = Store(session)
        if directory is not None and mapping.creates_subjects:
            # This file changes the register (and may yet be rolled back): no memo for it,
            # and none of what was remembered before.
            directory.clear()
            directory = None
        self.resolver = Resolver(session, cipher, mapping, directory)
        self.forced = forced or {}
        self.counts = Counts()
        self.results: dict[int, dict[str, Any]] | None = {} if keep_results else None
        self.seq = 0

    @property
    def known_columns(self) -> set[str]:
        return set(self.ctx.lookup)

    # -- one chunk -------------------------------------------------------------------------------
    def add(self, chunk: Chunk, seqs: pl.Series | None = None) -> None:
        prepared = prepare(self.ctx, chunk, self.seq, seqs)
        if prepared is not None:
            self.apply(prepared)

    def apply(self, prepared: Prepared) -> None:
        """Everything of a chunk that needs the database, after :func:`prepare`."""
        frame, v = prepared.frame, prepared.validated
        self.seq = max(self.seq, prepared.end)
        self.counts.received += frame.height
        self.counts.unmapped = sorted(set(self.counts.unmapped) | set(v.unmapped))
        failed = dict(v.failed)
        held: dict[int, int] = {}
        ok = v.ok
        if v.fallback.height:
            forced, held, unmatched = self.resolver.fallback(v.fallback, self.forced)
            for seq in unmatched:
                failed[seq] = [v.id_reasons[seq]]
            for seq in held:
                failed[seq] = [msg.held_for_match(self.ctx.identity), v.id_reasons[seq]]
            ok = pl.concat([ok.with_columns(pl.lit(None, pl.Int64).alias(SUBJECT)), forced],
                           how="diagonal_relaxed") if forced.height else ok
        accepted = self._accept(ok, failed)
        self._quarantine(frame, prepared.sheet, failed, held)
        self.counts.accepted += accepted

    def _accept(self, ok: pl.DataFrame, failed: dict[int, list[Reason]]) -> int:
        if ok.is_empty():
            return 0
        ok = self._hash_keys(ok)
        dup = self._duplicates(ok)
        self.counts.duplicates += int(dup.sum())
        self._mark(ok.filter(dup)[SEQ], "duplicate")
        ok = ok.filter(~dup)
        if self.mapping.creates_subjects:
            fresh = ok.filter(pl.col(ID).is_not_null() & pl.col(SUBJECT).is_null()) \
                if SUBJECT in ok.columns else ok.filter(pl.col(ID).is_not_null())
            self._merge_counts(self.resolver.upsert(fresh, self.batch, self.today))
        ok = self.resolver.attach_subjects(ok)
        missing = ok[SUBJECT].is_null()
        reason = msg.not_registered(self.ctx.identity, self.mapping.identity.kind,
                                    self.mapping.subject_kind)
        for seq in ok.filter(missing)[SEQ].to_list():
            failed[seq] = [reason]
        ok = ok.filter(~missing)
        self._store(ok)
        self._mark(ok[SEQ], "accepted")
        return ok.height

    def _merge_counts(self, extra: dict[str, int]) -> None:
        for k, n in extra.items():
            self.counts.registry[k] = self.counts.registry.get(k, 0) + n

    # -- duplicates ------------------------------------------------------------------------------
    def _hash_keys(self, ok: pl.DataFrame) -> pl.DataFrame:
        return hash_keys(ok, self.cipher, self.mapping.identity.kind)

    def _duplicates(self, ok: pl.DataFrame) -> pl.Series:
        """Same key and same content as a stored record, or as an earlier row of this batch."""
        repeat = ok.select(pl.struct("__kh__", "__ch__").is_first_distinct()).to_series()
        stored = self.store.existing_keys(self.batch.department, ok["__kh__"].unique().to_list())
        if not stored:
            return ~repeat
        same = ok["__kh__"].replace_strict(stored, default=None, return_dtype=pl.String)
        return (~repeat) | (same == ok["__ch__"]).fill_null(False)

    # -- storing ---------------------------------------------------------------------------------
    def _store(self, ok: pl.DataFrame) -> None:
        if ok.is_empty():
            return
        keys = ok.select(pl.lit(self.batch.department).alias("department"),
                         pl.col("__kh__").alias("key_hash"), pl.col("__ch__").alias("content_hash"),
                         pl.lit(self.batch.id).alias("batch_id")).unique(
            "key_hash", keep="last").sort("key_hash")
        self.store.upsert_keys(keys)
        values = hold.split(self, self._long_values(ok))
        if values.is_empty():
            return
        self.counts.values += values.height
        # In index order: each insert lands next to the previous one in the B-trees of
        # (subject_id, indicator_code), so the page cache stays hot instead of touching a random
        # page of a multi-million-row index per value.
        values = values.sort("subject_id", "indicator_code", "observed_on", SEQ)
        values = values.with_columns(digests(values))
        self.store.store_values(values)

    def _long_values(self, ok: pl.DataFrame) -> pl.DataFrame:
        parts = []
        observed = pl.col(OBSERVED).fill_null(self.today)
        for code in sorted(self.mapping.indicator_codes()):
            if code not in ok.columns:
                continue
            numeric = self.catalogue.get(code).type in NUMERIC_TYPES
            value = pl.col(code)
            parts.append(ok.filter(value.is_not_null()).select(
                pl.col(SUBJECT).alias("subject_id"), pl.lit(code).alias("indicator_code"),
                (value.cast(pl.Float64) if numeric else pl.lit(None, pl.Float64)).alias("value_num"),
                (pl.lit(None, pl.String) if numeric else value.cast(pl.String)).alias("value_text"),
                observed.alias("observed_on"), pl.col(SEQ)))
        if not parts:
            return pl.DataFrame()
        return pl.concat(parts).with_columns(
            pl.lit(self.batch.id, pl.Int64).alias("batch_id"),
            pl.lit(self.batch.department).alias("department"),
            pl.lit(self.catalogue.version, pl.Int64).alias("catalogue_version"),
            pl.lit(self.now).cast(pl.Datetime("us", "UTC")).alias("recorded_at"))

    # -- quarantine -------------------------------------------------------------------------------
    def _quarantine(self, frame: pl.DataFrame, sheet: str | None,
                    failed: dict[int, list[Reason]], held: dict[int, int]) -> None:
        if not failed:
            return
        self.counts.quarantined += len(failed)
        self.counts.held += len(held)
        rows = frame.filter(pl.col(SEQ).is_in(list(failed)))
        regions = self._regions(rows, held)
        records: list[dict[str, Any]] = []
        held_records: list[dict[str, Any]] = []
        for row in rows.to_dicts():
            seq = row.pop(SEQ)
            row_no = row.pop(ROW, None)
            original = {k: v for k, v in row.items() if v is not None}
            reasons = failed[seq]
            payload = json.dumps({"row": original, "reasons": [r.to_json() for r in reasons]},
                                 ensure_ascii=False)
            record = {"batch_id": self.batch.id, "seq": seq, "department": self.batch.department,
                      "region_code": regions.get(seq), "row_no": row_no, "sheet": sheet,
                      "columns": ",".join(dict.fromkeys(r.column for r in reasons if r.column))[:300]
                      or None, "reason_code": reasons[0].code, "created_at": self.now,
                      "payload": self.cipher.encrypt(payload, quarantine_aad(self.batch.id, seq)),
                      "status": "held" if seq in held else "open"}
            (held_records if seq in held else records).append(record)
            self._mark_one(seq, "quarantined", reasons)
        if records:
            self.session.execute(sa.insert(QuarantinedRow), records)
        for record in held_records:
            kept = QuarantinedRow(**record)
            self.session.add(kept)
            self.session.flush()
            self.session.add(PendingMatch(quarantined_row_id=kept.id, department=self.batch.department,
                                          subject_id=held[record["seq"]], created_at=self.now))
        self.session.flush()

    def _regions(self, rows: pl.DataFrame, held: dict[int, int]) -> dict[int, str]:
        """seq → the region a quarantined row names, by which township officers reach it: its
        village column when that holds a known village, else the region of the subject its
        identifier resolves to (or it is held for). A row that names neither is left out (the
        county's alone). Quarantined rows are few: plain Python, one register look-up."""
        found, _unmapped = canonical_columns(self.ctx, rows)
        identity = self.mapping.identity
        village_columns = [found[name] for name, col in self.mapping.columns.items()
                           if name in found and (col.target == "village_code" or (
                               name == identity.column and identity.kind == "division_code"))]
        seqs = rows[SEQ].to_list()
        out: dict[int, str] = {}
        for column in village_columns:
            parsed = nz.parse_division(rows[column], self.ctx.villages).values.to_list()
            for seq, code in zip(seqs, parsed, strict=True):
                if code and seq not in out:
                    out[seq] = code
        subjects = {seq: sid for seq, sid in held.items() if seq not in out}
        if identity.kind != "division_code" and identity.column in found:
            rest = rows.filter(~pl.col(SEQ).is_in([*out, *subjects]))
            ids = nz.parse_identifiers(rest[found[identity.column]], identity.kind).values
            known = self.resolver.lookup(ids.drop_nulls().unique().to_list())
            subjects.update({seq: known[i] for seq, i in zip(rest[SEQ].to_list(), ids.to_list(),
                                                              strict=True) if i in known})
        if subjects:
            region_of = dict(self.session.execute(sa.select(Subject.id, Subject.region_code)
                                                  .where(Subject.id.in_(set(subjects.values())))
                                                  ).all())
            out.update({seq: region_of[sid] for seq, sid in subjects.items() if sid in region_of})
        return out

    # -- per-row outcome (push API) ---------------------------------------------------------------
    def _mark(self, seqs: pl.Series, status: str) -> None:
        if self.results is not None:
            for seq in seqs.to_list():
                self.results[seq] = {"status": status}

    def _mark_one(self, seq: int, status: str, reasons: list[Reason]) -> None:
        if self.results is not None:
            self.results[seq] = {"status": status, "reasons": [
                {"column": r.column, "code": r.code, **r.both()} for r in reasons]}

    # -- end ----------------------------------------------------------------------------------
    def finish(self) -> Batch:
        c, b = self.counts, self.batch
        b.received, b.accepted, b.quarantined = c.received, c.accepted, c.quarantined
        b.held, b.duplicates, b.values_written = c.held, c.duplicates, c.values
        b.status, b.finished_at = "done", self.now
        detail: dict[str, Any] = {}
        if c.unmapped:
            detail["unmapped_columns"] = c.unmapped
        if c.registry:
            detail["registry"] = c.registry
        b.detail = detail or None
        if self.results is not None:
            b.result = {"rows": [{"index": i, **self.results[i]} for i in sorted(self.results)]}
        self.session.flush()
        return b
