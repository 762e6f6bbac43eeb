"""Operations of the feeds (部门数据归集): load a file, accept a pushed batch, record values.

Atomicity: a file (or a pushed batch) is loaded in **one database transaction**, chunk after
chunk on the same connection; its batch row turns ``done`` in that same transaction. A process
killed at any point therefore leaves either the whole batch or nothing (the database rolls the
open transaction back; SQLite's WAL drops uncommitted frames), never a partial batch. A rerun
finds the finished batches by their external id (the file's SHA-256) and skips them, and loads
the others from the start, which ends in exactly the state of an uninterrupted load. Callers own
the transaction (the CLI task opens one per file; the API one per request).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import log_denied, require, scope
from ctown.catalogue.schemas import Catalogue
from ctown.catalogue.service import load_catalogue
from ctown.crypto import FieldCipher
from ctown.db import page_offset, utcnow
from ctown.errors import Conflict, Forbidden, Invalid
from ctown.i18n import Message, _
from ctown.ingest import feeds, hold
from ctown.ingest.access import BATCHES
from ctown.ingest.digest import digests
from ctown.ingest.mapping import DepartmentMapping, load_mappings
from ctown.ingest.models import Batch
from ctown.ingest.pipeline import NUMERIC_TYPES, BatchLoad
from ctown.ingest.readers import ROW, Chunk, describe, iter_chunks, records_to_chunks
from ctown.ingest.store import Store
from ctown.registry.models import Subject

if TYPE_CHECKING:
    from _typeshed import ConvertibleToFloat

    from ctown.accounts.models import User
    from ctown.ingest.readahead import Feed
    from ctown.ingest.resolve import Directory

Progress = Callable[[int], None]
MAX_PUSH_ROWS = 50_000


@dataclass
class LoadReport:
    file: str
    department: str
    status: str  # loaded | already_loaded | failed
    batch_id: int | None = None
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    held: int = 0
    duplicates: int = 0
    values: int = 0
    error: dict[str, str] | None = None
    #: Values of consent-required indicators held until the household's collection consent.
    held_values: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mapping_for(department: str, mappings: dict[str, DepartmentMapping] | None = None
                ) -> DepartmentMapping:
    mappings = mappings if mappings is not None else load_mappings()
    if department not in mappings:
        raise Invalid(Message(_("未知的部门代码 {code}（可用：{codes}）"),
                              {"code": department, "codes": ", ".join(sorted(mappings))}))
    return mappings[department]


def find_batch(session: Session, department: str, external_id: str) -> Batch | None:
    return session.scalar(sa.select(Batch).where(Batch.department == department,
                                                 Batch.external_id == external_id))


def new_batch(session: Session, *, department: str, external_id: str, source_name: str,
               channel: str, catalogue: Catalogue, mapping_version: int | None,
               actor_id: int | None, now: dt.datetime) -> Batch:
    stale = find_batch(session, department, external_id)
    if stale is not None:  # only a failed attempt can be here: done batches are never reloaded
        session.delete(stale)
        session.flush()
    batch = Batch(department=department, external_id=external_id, source_name=source_name[:300],
                  channel=channel, status="loading", catalogue_version=catalogue.version,
                  mapping_version=mapping_version, actor_id=actor_id, created_at=now)
    session.add(batch)
    session.flush()
    return batch


def claim_batch(session: Session, **batch: Any) -> Batch | None:
    """:func:`new_batch`, or None when another transaction loaded the same batch meanwhile.

    Two loads of one batch at once (the same push sent twice, a file loaded by two commands)
    both find no batch; the second insert of its key waits for the first transaction and then
    meets the unique key (department, external_id). In a savepoint, that is an answer — the
    batch is loaded, :func:`loaded_meanwhile` — instead of an error of the whole request."""
    try:
        with session.begin_nested():
            return new_batch(session, **batch)
    except sa.exc.IntegrityError:
        return None


def loaded_meanwhile(session: Session, department: str, external_id: str) -> Batch:
    """The batch a concurrent load committed, once :func:`claim_batch` found its key taken."""
    batch = find_batch(session, department, external_id)
    if batch is None or batch.status != "done":
        raise Conflict(Message(_("批次 {batch} 正由另一个导入同时处理：请稍后重新发送"),
                               {"batch": external_id}))
    return batch


def _report(path: str, batch: Batch, status: str) -> LoadReport:
    if status == "already_loaded":  # a re-sent file: every row is recognised as a duplicate
        return LoadReport(path, batch.department, status, batch.id, received=batch.received,
                          duplicates=batch.received)
    return LoadReport(path, batch.department, status, batch.id, batch.received, batch.accepted,
                      batch.quarantined, batch.held, batch.duplicates, batch.values_written,
                      detail=batch.detail or {}, held_values=batch.held_values or 0)


def load_file(session: Session, cipher: FieldCipher, path: Path, department: str, *,
              actor_id: int | None = None, now: dt.datetime | None = None,
              progress: Progress | None = None,
              mappings: dict[str, DepartmentMapping] | None = None,
              feed: Feed | None = None, directory: Directory | None = None) -> LoadReport:
    """Load one department file in the caller's transaction (see the module docstring);
    ``feed``: the file as the read-ahead already read and validated it; ``directory``: the
    run's memo of the register."""
    mapping = mapping_for(department, mappings)
    info = feed.info if feed is not None else describe(path)
    existing = find_batch(session, department, info.sha256)
    if existing is not None and existing.status == "done":
        return _report(str(path), existing, "already_loaded")
    now = now or utcnow()
    catalogue = load_catalogue()
    batch = claim_batch(session, department=department, external_id=info.sha256,
                        source_name=path.name, channel="file", catalogue=catalogue,
                        mapping_version=mapping.version, actor_id=actor_id, now=now)
    if batch is None:
        return _report(str(path), loaded_meanwhile(session, department, info.sha256),
                       "already_loaded")
    load = BatchLoad(session, cipher, mapping, catalogue, batch, now=now, directory=directory)
    if feed is not None and not feed.done:
        for prepared in feed.chunks:
            load.apply(prepared)
            if progress:
                progress(prepared.frame.height)
    else:
        for chunk in iter_chunks(info, load.known_columns):
            load.add(chunk)
            if progress:
                progress(chunk.frame.height)
    batch = load.finish()
    batch.detail = {**(batch.detail or {}), "format": info.format,
                    "encoding": info.encoding or "", "bytes": info.size}
    return _report(str(path), batch, "loaded")


def record_failure(session: Session, department: str, path: Path, message: Message,
                   actor_id: int | None = None) -> LoadReport:
    """Remember a file that could not be read (in a transaction of its own, after the rollback)."""
    from ctown.ingest.readers import file_sha256

    sha = file_sha256(path)
    batch = find_batch(session, department, sha)
    if batch is None:
        batch = Batch(department=department, external_id=sha, source_name=path.name[:300],
                      channel="file", catalogue_version=load_catalogue().version,
                      actor_id=actor_id)
        session.add(batch)
    batch.status, batch.finished_at = "failed", utcnow()
    batch.detail = {"error": message.both()}
    session.flush()
    return LoadReport(str(path), department, "failed", batch.id, error=message.both())


# -- batches ----------------------------------------------------------------------------------------

def list_batches(session: Session, actor: User | None, page: int = 1,
                 per_page: int = 100) -> list[Batch]:
    """The batches the actor reaches, newest first (a feed account: its own department's)."""
    require(actor, "batch", "view")
    stmt = scope(sa.select(Batch), actor, BATCHES)
    return list(session.scalars(stmt.order_by(Batch.id.desc()).limit(per_page)
                                .offset(page_offset(page, per_page))))


# -- push API -------------------------------------------------------------------------------------

def push_for(session: Session, cipher: FieldCipher, actor: User, *, department: str,
             batch_id: str, rows: Sequence[object], client: str | None = None
             ) -> tuple[Batch, bool]:
    """A department's push (报送), made with its key (R-1.4): ``actor`` is the machine account
    the key authenticated (:func:`ctown.ingest.feeds.authenticate_key`). It pushes only for its
    own department; another department, or a person of the department (a clerk signed in), is
    refused and the attempt logged. The batch is read with the department's registered mapping."""
    require(actor, "batch", "push")
    if actor.department_code != department:
        log_denied(session, actor, f"feed push {department}", client)
        raise Forbidden(Message(_("该部门密钥只能报送本部门（{own}）的数据，不能报送 {department}"),
                                {"own": actor.department_code or "-", "department": department}))
    registered = feeds.department_of_account(session, actor)
    if registered is None or registered.code != department:
        log_denied(session, actor, f"feed push {department}: a person, not the department's key",
                   client)
        raise Forbidden(feeds.KEY_NEEDED)
    return push_batch(session, cipher, department=department, batch_id=batch_id, rows=rows,
                      actor_id=actor.id, mapping=registered.mapping)


def push_batch(session: Session, cipher: FieldCipher, *, department: str, batch_id: str,
               rows: Sequence[object], actor_id: int | None,
               now: dt.datetime | None = None, mapping: str | None = None) -> tuple[Batch, bool]:
    """Accept a pushed batch; a re-send of the same ``batch_id`` is a no-op returning the first
    result. Returns the batch and whether it was a re-send. ``mapping``: the code of the mapping
    the rows are read with (default: the department's own code)."""
    layout = mapping_for(mapping or department)
    existing = find_batch(session, department, batch_id)
    if existing is not None and existing.status == "done":
        return existing, True
    if len(rows) > MAX_PUSH_ROWS:
        raise Invalid(Message(_("每批最多 {limit} 行，本批 {count} 行：请拆分后分批报送"),
                              {"limit": MAX_PUSH_ROWS, "count": len(rows)}))
    now = now or utcnow()
    catalogue = load_catalogue()
    batch = claim_batch(session, department=department, external_id=batch_id,
                        source_name=f"api:{batch_id}", channel="api", catalogue=catalogue,
                        mapping_version=layout.version, actor_id=actor_id, now=now)
    if batch is None:  # the same batch pushed twice at once: this is the re-send
        return loaded_meanwhile(session, department, batch_id), True
    load = BatchLoad(session, cipher, layout, catalogue, batch, now=now, keep_results=True)
    for chunk in records_to_chunks(rows, keep_blank=True, first=0):
        load.add(Chunk(chunk.frame.with_columns(pl.col(ROW) + 1)), seqs=chunk.frame[ROW])
    return load.finish(), False


# -- values written by other capabilities -----------------------------------------------------------

def _value_columns(catalogue: Catalogue, code: str, value: object) -> tuple[float | None, str | None]:
    if code not in catalogue.indicators:
        raise Invalid(Message(_("未知的指标代码 {code}"), {"code": code}))
    ind = catalogue.get(code)
    try:
        if ind.type in NUMERIC_TYPES:
            # float() is the check: what it cannot convert raises, and is refused below.
            number = float(cast("ConvertibleToFloat", value))
            if ind.type == "integer" and not number.is_integer():
                raise ValueError
            return number, None
        if ind.type == "code" and str(value) not in ind.codes:
            raise ValueError
        if ind.type == "date":
            return None, (value if isinstance(value, dt.date) else
                          dt.date.fromisoformat(str(value))).isoformat()
        return None, str(value)
    except (TypeError, ValueError):
        raise Invalid(Message(_("指标 {code}（{type}）不接受取值 {value}"),
                              {"code": code, "type": ind.type, "value": str(value)})) from None


def record_values(session: Session, *, actor: Any, department: str, source: str,
                  values: list[tuple[int, str, object, dt.date]],
                  now: dt.datetime | None = None, cipher: FieldCipher | None = None) -> Batch:
    """Write values into the credit file for another capability (repayments, collection points,
    village evaluation). The same call twice is one batch (its content is its external id).

    Consent-required values about a household without collection consent are held like a
    feed's (:mod:`ctown.ingest.hold`); ``cipher`` encrypts them (default: the configured key
    ring, loaded only when something is held)."""
    catalogue = load_catalogue()
    rows = [(int(s), c, *_value_columns(catalogue, c, v), o) for s, c, v, o in values]
    canon = json.dumps([[s, c, n, t, o.isoformat()] for s, c, n, t, o in rows], ensure_ascii=False)
    external = "values:" + hashlib.sha256(f"{source}\x1f{canon}".encode()).hexdigest()
    existing = find_batch(session, department, external)
    if existing is not None:
        return existing
    _check_subjects(session, {r[0] for r in rows})
    now = now or utcnow()
    actor_id = getattr(actor, "id", actor if isinstance(actor, int) else None)
    batch = claim_batch(session, department=department, external_id=external,
                        source_name=source, channel="service", catalogue=catalogue,
                        mapping_version=None, actor_id=actor_id, now=now)
    if batch is None:
        return loaded_meanwhile(session, department, external)
    frame = pl.DataFrame(rows, orient="row", schema={
        "subject_id": pl.Int64, "indicator_code": pl.String, "value_num": pl.Float64,
        "value_text": pl.String, "observed_on": pl.Date}).with_row_index("__seq__").with_columns(
        pl.lit(batch.id, pl.Int64).alias("batch_id"), pl.lit(department).alias("department"),
        pl.lit(catalogue.version, pl.Int64).alias("catalogue_version"),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("recorded_at"))
    # Consent-required values without the household's collection consent wait in the hold.
    frame, held = hold.hold(session, cipher, catalogue,
                            frame.with_columns(pl.col("__seq__").cast(pl.Int64)), now=now) \
        if frame.height else (frame, 0)
    if frame.height:
        frame = frame.with_columns(digests(frame))
        Store(session).store_values(
            frame.sort("subject_id", "indicator_code", "observed_on", "__seq__"))
    batch.received = batch.accepted = frame.height + held
    batch.values_written, batch.held_values = frame.height, held
    batch.status, batch.finished_at = "done", now
    session.flush()
    return batch


def _check_subjects(session: Session, ids: set[int]) -> None:
    if not ids:
        return
    found = set(session.scalars(sa.select(Subject.id).where(Subject.id.in_(ids))))
    missing = sorted(ids - found)
    if missing:
        raise Invalid(Message(_("主体 {ids} 不存在"), {"ids": ", ".join(map(str, missing[:10]))}))
