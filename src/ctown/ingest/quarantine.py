"""The quarantine (隔离区) and identity confirmations (身份待确认): list, correct, replay, decide.

A replay runs the (corrected) rows through the same pipeline as a new batch; the old rows are
marked ``replayed`` and point to it, and rows that fail again are quarantined in the new batch,
so a row is never counted twice.

Who reaches which rows is the access layer's (``quarantine`` and ``match`` of
:data:`ctown.access.policy.POLICY`, resources in :mod:`ctown.ingest.access`): the county every
row, a township officer the rows that name a place of the township, a department's feed account
its own department's. A row the actor does not reach is "not found", and the denial is logged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import get_for, require, scope
from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.crypto import FieldCipher
from ctown.db import page_offset, storable_int, utcnow
from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.ingest import messages as msg
from ctown.ingest.access import MATCHES, QUARANTINE
from ctown.ingest.feeds import mapping_of
from ctown.ingest.messages import Reason
from ctown.ingest.models import Batch, PendingMatch, QuarantinedRow
from ctown.ingest.pipeline import BatchLoad, quarantine_aad
from ctown.ingest.readers import ROW, Chunk
from ctown.ingest.service import mapping_for, new_batch
from ctown.masking import mask_name
from ctown.registry.models import Subject

PER_PAGE = 50


def _rows_query(actor: User | None, department: str | None, purpose: str = "view"
                ) -> sa.Select[QuarantinedRow]:
    stmt = scope(sa.select(QuarantinedRow), actor, QUARANTINE, purpose)
    if department:
        stmt = stmt.where(QuarantinedRow.department == department)
    return stmt


def _reached(session: Session, actor: User | None, row_ids: list[int], purpose: str
             ) -> list[QuarantinedRow]:
    """The rows of ``row_ids`` the actor reaches for ``purpose``; any other id is "not found"
    for a person (the denial logged when the row exists). The county's own job skips ids that
    do not exist, as it always did (an id past 64 bits among them)."""
    storable = [i for i in row_ids if storable_int(i)]
    rows = list(session.scalars(_rows_query(actor, None, purpose)
                                .where(QuarantinedRow.id.in_(storable)).order_by(QuarantinedRow.id)))
    missing = set(row_ids) - {r.id for r in rows}
    if missing and actor is not None:
        get_for(session, actor, QUARANTINE, min(missing), purpose)  # raises NotFound
    return rows


def payload_of(cipher: FieldCipher, row: QuarantinedRow) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cipher.decrypt(row.payload, quarantine_aad(row.batch_id,
                                                                                  row.seq)))
    return data


def row_item(cipher: FieldCipher, row: QuarantinedRow, source: str) -> dict[str, Any]:
    data = payload_of(cipher, row)
    reasons = [Reason.from_json(r) for r in data["reasons"]]
    return {"id": row.id, "batch_id": row.batch_id, "department": row.department,
            "source": source, "row_no": row.row_no, "sheet": row.sheet, "status": row.status,
            "reason_code": row.reason_code, "row": data["row"], "edited": data.get("edited", []),
            "reasons": [{"column": r.column, "code": r.code, **r.both()} for r in reasons],
            "created_at": row.created_at.isoformat()}


def list_rows(session: Session, cipher: FieldCipher, actor: User | None, *,
              department: str | None = None, status: str = "open", page: int = 1,
              limit: int = PER_PAGE) -> dict[str, Any]:
    require(actor, "quarantine", "view")
    stmt = _rows_query(actor, department).where(QuarantinedRow.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.add_columns(Batch.source_name).join(Batch, Batch.id == QuarantinedRow.batch_id)
        .order_by(QuarantinedRow.id).limit(limit).offset(page_offset(page, limit))).all()
    by_reason = dict(session.execute(
        sa.select(QuarantinedRow.reason_code, sa.func.count())
        .where(QuarantinedRow.id.in_(stmt.with_only_columns(QuarantinedRow.id)))
        .group_by(QuarantinedRow.reason_code)).all())
    return {"total": total, "page": page, "per_page": limit, "by_reason": by_reason,
            "items": [row_item(cipher, r, src) for r, src in rows]}


def get_row(session: Session, actor: User | None, row_id: int, purpose: str = "view"
            ) -> QuarantinedRow:
    row: QuarantinedRow = get_for(session, actor, QUARANTINE, row_id, purpose)
    return row


def row_detail(session: Session, cipher: FieldCipher, actor: User | None, row_id: int
               ) -> dict[str, Any]:
    """One quarantined row, decrypted, for the actor who reaches it."""
    return row_item(cipher, get_row(session, actor, row_id), "")


def fix_row(session: Session, cipher: FieldCipher, actor: User | None, row_id: int,
            changes: dict[str, str]) -> QuarantinedRow:
    """Correct values of an open row (by the file's column names); an empty value clears it."""
    row = get_row(session, actor, row_id, "resolve")
    if row.status != "open":
        raise Invalid(Message(_("只能更正待处理的隔离行")))
    data = payload_of(cipher, row)
    for column, value in changes.items():
        column = column.strip()
        if value.strip():
            data["row"][column] = value.strip()
        else:
            data["row"].pop(column, None)
        data.setdefault("edited", []).append(column)
    data["edited"] = sorted(set(data["edited"]))
    data["edited_by"] = actor.id if actor else None
    row.payload = cipher.encrypt(json.dumps(data, ensure_ascii=False),
                                 quarantine_aad(row.batch_id, row.seq))
    session.flush()
    return row


def discard(session: Session, actor: User | None, row_ids: list[int]) -> int:
    rows = [r for r in _reached(session, actor, row_ids, "resolve") if r.status == "open"]
    for row in rows:
        row.status, row.resolved_at = "discarded", utcnow()
        row.resolved_by = actor.id if actor else None
    session.flush()
    return len(rows)


def replay(session: Session, cipher: FieldCipher, actor: User | None, *,
           ids: list[int] | None = None, department: str | None = None) -> dict[str, int]:
    """Replay open rows (those given, or all of a department), one new batch per department."""
    if ids:
        rows = [r for r in _reached(session, actor, ids, "resolve") if r.status == "open"
                and (not department or r.department == department)]
    else:
        rows = list(session.scalars(_rows_query(actor, department, "resolve")
                                    .where(QuarantinedRow.status == "open")
                                    .order_by(QuarantinedRow.id)))
    totals = {"received": 0, "accepted": 0, "quarantined": 0, "duplicates": 0, "batches": 0}
    by_dept: dict[str, list[QuarantinedRow]] = {}
    for row in rows:
        by_dept.setdefault(row.department, []).append(row)
    for dept, group in sorted(by_dept.items()):
        batch = _replay_group(session, cipher, actor, dept, group, "replay", {})
        for k in ("received", "accepted", "quarantined", "duplicates"):
            totals[k] += getattr(batch, k)
        totals["batches"] += 1
    return totals


def _replay_group(session: Session, cipher: FieldCipher, actor: User | None, department: str,
                  group: list[QuarantinedRow], channel: str, forced: dict[int, int]) -> Batch:
    mapping = mapping_for(mapping_of(session, department))
    payloads = [payload_of(cipher, r) for r in group]
    digest = hashlib.sha256(json.dumps([[r.id, p["row"]] for r, p in zip(group, payloads,
                                                                           strict=True)],
                                       ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    now = utcnow()
    catalogue = load_catalogue()
    batch = new_batch(session, department=department, external_id=f"{channel}:{digest}",
                       source_name=f"{channel}: #{group[0].id}…#{group[-1].id}", channel=channel,
                       catalogue=catalogue, mapping_version=mapping.version,
                       actor_id=actor.id if actor else None, now=now)
    names = list(dict.fromkeys(k for p in payloads for k in p["row"]))
    frame = pl.DataFrame({n: pl.Series(n, [p["row"].get(n) for p in payloads], dtype=pl.String)
                          for n in names}).with_columns(
        pl.Series(ROW, [r.row_no for r in group], dtype=pl.Int64))
    load = BatchLoad(session, cipher, mapping, catalogue, batch, now=now, forced=forced)
    load.add(Chunk(frame))
    load.finish()
    for row in group:
        row.status, row.resolved_at, row.resolved_batch_id = "replayed", now, batch.id
        row.resolved_by = actor.id if actor else None
    session.flush()
    return batch


# -- identity confirmations ---------------------------------------------------------------------

def list_matches(session: Session, cipher: FieldCipher, actor: User | None,
                 status: str = "pending") -> list[dict[str, Any]]:
    require(actor, "match", "view")
    stmt = scope(sa.select(PendingMatch, QuarantinedRow, Subject)
                 .join(QuarantinedRow, QuarantinedRow.id == PendingMatch.quarantined_row_id)
                 .join(Subject, Subject.id == PendingMatch.subject_id)
                 .where(PendingMatch.status == status).order_by(PendingMatch.id),
                 actor, MATCHES)
    out = []
    for match, row, subject in session.execute(stmt):
        item = row_item(cipher, row, "")
        out.append({"id": match.id, "department": match.department, "status": match.status,
                    "subject_id": subject.id, "subject_kind": subject.kind,
                    "subject_name": mask_name(subject.name), "region_code": subject.region_code,
                    "row": item["row"], "reasons": item["reasons"], "row_no": row.row_no,
                    "quarantined_row_id": row.id})
    return out


def decide(session: Session, cipher: FieldCipher, actor: User | None, match_id: int, *,
           confirm: bool) -> PendingMatch:
    """Confirm (the row's values go to the matched subject) or reject (back to the quarantine)."""
    match: PendingMatch = get_for(session, actor, MATCHES, match_id, "decide")
    if match.status != "pending":
        raise Invalid(Message(_("该匹配已处理")))
    row = session.get_one(QuarantinedRow, match.quarantined_row_id)
    match.status, match.decided_at = ("confirmed" if confirm else "rejected"), utcnow()
    match.decided_by = actor.id if actor else None
    if confirm:
        batch = _replay_group(session, cipher, actor, match.department, [row], "confirm",
                              {0: match.subject_id})
        match.result_batch_id = batch.id
    else:
        data = payload_of(cipher, row)
        data["reasons"] = [msg.match_rejected().to_json(),
                           *[r for r in data["reasons"] if r["code"] != "held_for_match"]]
        row.payload = cipher.encrypt(json.dumps(data, ensure_ascii=False),
                                     quarantine_aad(row.batch_id, row.seq))
        row.status, row.reason_code = "open", "match_rejected"
    session.flush()
    return match
