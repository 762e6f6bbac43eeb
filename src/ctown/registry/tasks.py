"""Bulk loads of the registry (household register 户籍, business register), column-wise.

Callers hand over frames whose identifiers are already validated and normalised (the ingest
pipeline quarantines the rest); these functions only create or update subjects in bulk, with one
change event per created or changed subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.rules import HEAD_RELATIONS
from ctown.db import bulk_insert, keys_in
from ctown.registry.models import Region, Subject
from ctown.registry.service import change_records, record_changes, subject_aad

if TYPE_CHECKING:
    from ctown.accounts.models import User
    from ctown.crypto import FieldCipher

CHUNK = 5000  # SQLite >= 3.32 allows 32,766 bound parameters per statement


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


SUBJECTS = Subject.__table__


def insert_subjects(session: Session, rows: Sequence[dict[str, Any]], key: str) -> list[int]:
    """Insert subjects in bulk and return their ids in the order of ``rows``.

    A plain executemany, then the ids read back by a unique column: ``INSERT … RETURNING`` with
    ordered results makes SQLAlchemy send one statement per row on SQLite (50× slower here).
    Every row must have the same keys, or the executemany is split into many small ones.
    """
    if not rows:
        return []
    bulk_insert(session, SUBJECTS, list(rows))
    wanted = [r[key] for r in rows]
    column = SUBJECTS.c[key]
    found: dict[Any, int] = dict(session.execute(
        sa.select(column, SUBJECTS.c.id).where(keys_in(session, column, wanted))).all())
    return [found[k] for k in wanted]


def load_regions(session: Session, rows: Iterable[dict[str, Any]], *, actor: User | int | None = None,
                 source: str = "regions") -> dict[str, int]:
    """Upsert the division tree (parents before children) and one collective per village."""
    rows = sorted(rows, key=lambda r: (len(str(r["code"]).rstrip("0")), str(r["code"])))
    existing = {r.code: r for r in session.scalars(sa.select(Region))}
    created = 0
    for row in rows:
        code = str(row["code"])
        region = existing.get(code)
        if region is None:
            region = Region(code=code)
            session.add(region)
            existing[code] = region
            created += 1
        region.name, region.level = row["name"], row["level"]
        region.name_en = row.get("name_en") or None
        region.parent_code = str(row["parent_code"]) if row.get("parent_code") else None
    session.flush()
    collectives = _ensure_collectives(session, [r for r in existing.values()
                                                if r.level == "village"], actor, source)
    return {"regions": len(existing), "regions_created": created,
            "collectives_created": collectives}


def _ensure_collectives(session: Session, villages: list[Region], actor: User | int | None,
                        source: str) -> int:
    have = set(session.scalars(sa.select(Subject.region_code).where(Subject.kind == "collective")))
    missing = [v for v in villages if v.code not in have]
    if not missing:
        return 0
    session.execute(sa.insert(SUBJECTS), [
        {"kind": "collective", "name": v.name + "村集体", "region_code": v.code} for v in missing])
    ids = [session.scalar(sa.select(Subject.id).where(Subject.kind == "collective",
                                                      Subject.region_code == v.code))
           for v in missing]
    record_changes(session, change_records(
        actor=actor, source=source, action="create", entity="subject",
        items=[(sid, {"kind": "collective", "region_code": v.code})
               for sid, v in zip(ids, missing, strict=True)]))
    return len(missing)


PERSON_FIELDS = ("name", "relation", "gender", "birth_date", "region_code", "household_id")


def upsert_people(session: Session, cipher: FieldCipher, frame: pl.DataFrame, *,
                  actor: User | int | None, source: str) -> dict[str, int]:
    """Create or update households and their members from household-register rows.

    Columns: household_no, name, resident_id, relation, gender, birth_date, village_code, phone.
    """
    if frame.is_empty():
        return {"households_created": 0, "persons_created": 0, "persons_updated": 0}
    frame = frame.unique(subset="resident_id", keep="last", maintain_order=True)
    households = _ensure_households(session, frame, actor, source)
    frame = frame.with_columns(
        pl.col("resident_id").replace_strict(
            cipher.blind_indexes(frame["resident_id"].to_list()), return_dtype=pl.String)
        .alias("id_index"),
        pl.col("household_no").replace_strict(households, return_dtype=pl.Int64)
        .alias("household_id"),
        pl.col("village_code").alias("region_code"))
    existing = _existing_by_index(session, frame["id_index"].to_list())
    new_rows, updates, changes = [], [], []
    for row in frame.iter_rows(named=True):
        current = existing.get(row["id_index"])
        if current is None:
            new_rows.append(_person_values(cipher, row))
            continue
        changed = {f: row[f] for f in PERSON_FIELDS if current[f] != row[f]}
        if row.get("phone") and cipher.blind_index(row["phone"], "phone") != current["phone_index"]:
            changed.update(_phone_values(cipher, row))
        if changed:
            updates.append({"id": current["id"], **changed})
            changes.append((current["id"], _person_payload(row, changed)))
    if updates:
        session.execute(sa.update(Subject), updates)
    ids = insert_subjects(session, new_rows, "id_index")
    record_changes(session, [
        *change_records(actor=actor, source=source, action="update", entity="subject",
                        items=changes),
        *change_records(actor=actor, source=source, action="create", entity="subject",
                        items=[(sid, _person_payload(values, values))
                               for sid, values in zip(ids, new_rows, strict=True)])])
    _name_households_after_heads(session, frame)
    return {"households_created": households.created, "persons_created": len(new_rows),
            "persons_updated": len(updates)}


class _HouseholdMap(dict[str, int]):
    created = 0


def _ensure_households(session: Session, frame: pl.DataFrame, actor: User | int | None,
                       source: str) -> _HouseholdMap:
    first = frame.sort(~pl.col("relation").is_in(HEAD_RELATIONS), maintain_order=True).unique(
        "household_no", keep="first", maintain_order=True)
    wanted = first["household_no"].to_list()
    result = _HouseholdMap()
    found = session.execute(sa.select(Subject.household_no, Subject.id).where(
        keys_in(session, Subject.household_no, wanted))).all()
    result.update((no, sid) for no, sid in found if no is not None)  # always: IN matches no NULL
    missing = [r for r in first.iter_rows(named=True) if r["household_no"] not in result]
    values = [{"kind": "household", "name": r["name"], "household_no": r["household_no"],
               "region_code": r["village_code"]} for r in missing]
    ids = insert_subjects(session, values, "household_no")
    result.update({v["household_no"]: i for v, i in zip(values, ids, strict=True)})
    record_changes(session, change_records(
        actor=actor, source=source, action="create", entity="subject",
        items=[(i, {"kind": "household", **v}) for v, i in zip(values, ids, strict=True)]))
    result.created = len(missing)
    return result


def _name_households_after_heads(session: Session, frame: pl.DataFrame) -> None:
    """A household is named after its head and lives where the head lives (only changes written)."""
    heads = (frame.filter(pl.col("relation").is_in(HEAD_RELATIONS))
             .select("household_id", "name", "region_code"))
    if heads.is_empty():
        return
    wanted = {r["household_id"]: (r["name"], r["region_code"]) for r in heads.iter_rows(named=True)}
    current = {i: (n, c) for i, n, c in session.execute(
        sa.select(Subject.id, Subject.name, Subject.region_code).where(
            keys_in(session, Subject.id, list(wanted))))}
    changed = [{"id": i, "name": v[0], "region_code": v[1]} for i, v in wanted.items()
               if current.get(i) != v]
    if changed:
        session.execute(sa.update(Subject), changed)


def _existing_by_index(session: Session, indexes: list[str]) -> dict[str, dict[str, Any]]:
    cols = [Subject.id, Subject.id_index, Subject.phone_index,
            *(getattr(Subject, f) for f in PERSON_FIELDS)]
    rows = session.execute(sa.select(*cols).where(keys_in(session, Subject.id_index, indexes)))
    return {row["id_index"]: dict(row) for row in rows.mappings()}


def _phone_values(cipher: FieldCipher, row: dict[str, Any]) -> dict[str, Any]:
    return {"phone_cipher": cipher.encrypt(row["phone"], subject_aad("phone_cipher", row["id_index"])),
            "phone_index": cipher.blind_index(row["phone"], "phone")}


def _person_values(cipher: FieldCipher, row: dict[str, Any]) -> dict[str, Any]:
    values = {"kind": "person", **{f: row[f] for f in PERSON_FIELDS}, "id_index": row["id_index"],
              "id_cipher": cipher.encrypt(row["resident_id"],
                                          subject_aad("id_cipher", row["id_index"])),
              "phone_cipher": None, "phone_index": None}  # same keys in every row: one executemany
    if row.get("phone"):
        values.update(_phone_values(cipher, row))
    return values


_SECRET = ("resident_id", "phone", "id_cipher", "phone_cipher")


def _person_payload(row: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    # Identifiers appear in events only as their blind index: the event log is not a second copy.
    payload = {k: v for k, v in changed.items() if k not in _SECRET}
    payload["id_index"] = row["id_index"]
    return payload


def upsert_entities(session: Session, frame: pl.DataFrame, *, actor: User | int | None,
                    source: str) -> dict[str, int]:
    """Create or update agricultural business entities by unified social credit code.

    Columns: credit_code, name, entity_type, village_code (legal_rep_id is not stored here).
    """
    frame = frame.unique(subset="credit_code", keep="last", maintain_order=True)
    codes = frame["credit_code"].to_list()
    existing = {row["credit_code"]: dict(row) for row in session.execute(
        sa.select(Subject.id, Subject.credit_code, Subject.name, Subject.entity_type,
                  Subject.region_code).where(keys_in(session, Subject.credit_code, codes))
    ).mappings()}
    new_rows, updates, changes = [], [], []
    for row in frame.iter_rows(named=True):
        values = {"name": row["name"], "entity_type": row["entity_type"],
                  "region_code": row["village_code"]}
        current = existing.get(row["credit_code"])
        if current is None:
            new_rows.append({"kind": "entity", "credit_code": row["credit_code"], **values})
            continue
        changed = {k: v for k, v in values.items() if current[k] != v}
        if changed:
            updates.append({"id": current["id"], **changed})
            changes.append((current["id"], changed))
    if updates:
        session.execute(sa.update(Subject), updates)
    ids = insert_subjects(session, new_rows, "credit_code")
    record_changes(session, [
        *change_records(actor=actor, source=source, action="update", entity="subject",
                        items=changes),
        *change_records(actor=actor, source=source, action="create", entity="subject",
                        items=list(zip(ids, new_rows, strict=True)))])
    return {"entities_created": len(new_rows), "entities_updated": len(updates)}


def resolve(session: Session, cipher: FieldCipher, kind: str, identifiers: Sequence[str],
            subject_kind: str = "person") -> dict[str, int]:
    """Identifier → subject id, in bulk (R-1.6 identity resolution).

    ``resident_id`` finds the person, or the person's household when ``subject_kind`` is
    ``household``; ``uscc`` finds the entity; ``division_code`` the village collective.
    """
    distinct = list(dict.fromkeys(identifiers))
    if kind != "resident_id":
        return register_map(session, kind, subject_kind, distinct)
    by_index = {v: k for k, v in cipher.blind_indexes(distinct).items()}
    found = register_map(session, kind, subject_kind, list(by_index))
    return {by_index[key]: sid for key, sid in found.items()}


def register_map(session: Session, kind: str, subject_kind: str = "person",
                 keys: list[str] | None = None) -> dict[str, int]:
    """Stored key → subject id: the blind index of a resident ID (the person, or the household
    when ``subject_kind`` is ``household``), a credit code (the entity) or a division code (the
    village collective); ``keys`` None: the whole register."""
    if kind == "resident_id":
        column = Subject.id_index
        target = Subject.household_id if subject_kind == "household" else Subject.id
    elif kind in ("uscc", "division_code"):
        column = Subject.credit_code if kind == "uscc" else Subject.region_code
        target = Subject.id
    else:
        raise ValueError(f"unknown identifier kind {kind!r}")
    stmt = sa.select(column, target).where(column.is_not(None), target.is_not(None))
    if keys is not None:
        stmt = stmt.where(keys_in(session, column, keys))
    if kind == "division_code":
        stmt = stmt.where(Subject.kind == "collective")
    return {key: sid for key, sid in session.execute(stmt)
            if key is not None and sid is not None}  # always true: the WHERE excludes NULLs
