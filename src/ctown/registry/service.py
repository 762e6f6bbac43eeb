"""Operations on regions and subjects. Every change of a subject goes through ``record_change``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.db import bulk_insert, utcnow
from ctown.registry import events
from ctown.registry.identifiers import normalise
from ctown.registry.models import ChangeEvent, Region, Subject

if TYPE_CHECKING:
    from ctown.access.scope import Actor
    from ctown.crypto import FieldCipher


def subject_aad(column: str, row_key: str) -> str:
    """Associated data binding a ciphertext to its column and row (the row's blind index)."""
    return f"subjects.{column}:{row_key}"


def subject_row_aad(column: str, row: Mapping[str, Any]) -> str:
    """:func:`subject_aad` of a stored row (key rotation: ``Capability.encrypted``)."""
    return subject_aad(column, row["id_index"])


def change_record(*, actor: Actor | int | None, source: str, action: str, entity: str,
                  subject_id: int | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The column values of one change event, digest included (used singly and in bulk)."""
    actor_id = actor if isinstance(actor, int) or actor is None else actor.id
    payload = events.plain(payload)  # dates to ISO text: what the JSON column keeps
    record = events.event_record(occurred_at=utcnow(), subject_id=subject_id, actor_id=actor_id,
                                 source=source, action=action, entity=entity, payload=payload)
    return {**record, "digest": events.digest(record)}


def change_records(*, actor: Actor | int | None, source: str, action: str, entity: str,
                   items: Iterable[tuple[int | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    """:func:`change_record` for many subjects at once (one time for the bulk step)."""
    actor_id = actor if isinstance(actor, int) or actor is None else actor.id
    return events.bulk_records(occurred_at=utcnow(), actor_id=actor_id, source=source,
                               action=action, entity=entity, items=items)


def record_change(session: Session, *, actor: Actor | int | None, source: str, action: str,
                  entity: str, subject_id: int | None, payload: dict[str, Any]) -> ChangeEvent:
    event = ChangeEvent(**change_record(actor=actor, source=source, action=action, entity=entity,
                                        subject_id=subject_id, payload=payload))
    session.add(event)
    session.flush()
    return event


def record_changes(session: Session, records: Sequence[dict[str, Any]]) -> None:
    """Bulk insert of change events built with :func:`change_record` (batch loads)."""
    if records:
        bulk_insert(session, ChangeEvent.__table__, list(records))


def verify_event(event: ChangeEvent) -> bool:
    record = events.event_record(occurred_at=event.occurred_at, subject_id=event.subject_id,
                                 actor_id=event.actor_id, source=event.source, action=event.action,
                                 entity=event.entity, payload=event.payload)
    return events.digest(record) == event.digest


def find_person_by_resident_id(session: Session, cipher: FieldCipher,
                               resident_id: str) -> Subject | None:
    index = cipher.blind_index(normalise(resident_id))
    return session.scalar(sa.select(Subject).where(Subject.id_index == index))


def resident_id_of(cipher: FieldCipher, subject: Subject) -> str | None:
    if not subject.id_cipher or not subject.id_index:
        return None
    return cipher.decrypt(subject.id_cipher, subject_aad("id_cipher", subject.id_index))


def phone_of(cipher: FieldCipher, subject: Subject) -> str | None:
    if not subject.phone_cipher or not subject.id_index:
        return None
    return cipher.decrypt(subject.phone_cipher, subject_aad("phone_cipher", subject.id_index))


@dataclass(frozen=True)
class RegionNode:
    region: Region
    children: list[RegionNode]
    households: int


def region_tree(session: Session, prefix: str = "") -> list[RegionNode]:
    """The region tree below a code prefix, with household counts (two queries, not one per node)."""
    regions = session.scalars(
        sa.select(Region).where(Region.code.startswith(prefix)).order_by(Region.code)).all()
    counts = dict(session.execute(
        sa.select(Subject.region_code, sa.func.count())
        .where(Subject.kind == "household", Subject.region_code.startswith(prefix))
        .group_by(Subject.region_code)).all())
    by_parent: dict[str | None, list[Region]] = {}
    codes = {r.code for r in regions}
    for r in regions:
        parent = r.parent_code if r.parent_code in codes else None
        by_parent.setdefault(parent, []).append(r)

    def build(region: Region) -> RegionNode:
        kids = [build(c) for c in by_parent.get(region.code, [])]
        own = counts.get(region.code, 0)
        return RegionNode(region, kids, own + sum(k.households for k in kids))

    return [build(r) for r in by_parent.get(None, [])]


def regions_by_code(session: Session, codes: Iterable[str]) -> dict[str, Region]:
    codes = list(set(codes))
    if not codes:
        return {}
    return {r.code: r for r in session.scalars(sa.select(Region).where(Region.code.in_(codes)))}
