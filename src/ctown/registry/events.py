"""Canonical form and digest of change events (the bytes the ledger commits to)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ctown.db import JSONText


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


#: One encoder for every event: building a JSONEncoder per call cost as much as encoding.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=_default)
_dumps = _ENCODER.encode


def plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as its JSON column will give it back (dates as ISO text)."""
    if any(isinstance(v, dict | list | tuple) for v in payload.values()):
        result: dict[str, Any] = json.loads(canonical(payload))
        return result
    return {k: _default(v) if isinstance(v, dt.date) else v for k, v in payload.items()}


def canonical(event: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same event always gives the same bytes."""
    return _dumps(event).encode()


def event_record(*, occurred_at: dt.datetime, subject_id: int | None, actor_id: int | None,
                 source: str, action: str, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"occurred_at": occurred_at, "subject_id": subject_id, "actor_id": actor_id,
            "source": source, "action": action, "entity": entity, "payload": payload}


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()



def bulk_records(*, occurred_at: dt.datetime, actor_id: int | None, source: str, action: str,
                 entity: str, items: Iterable[tuple[int | None, dict[str, Any]]]
                 ) -> list[dict[str, Any]]:
    """Change events of one bulk step (same time, actor, source, action and entity), digest
    included: the canonical text's shared part is built once and each payload serialised once
    — that text is also what the JSON column stores. Same bytes as :func:`canonical`, whose keys
    sort as action, actor_id, entity, occurred_at, payload, source, subject_id."""
    head = (f'{{"action":{_dumps(action)},"actor_id":{_dumps(actor_id)},'
            f'"entity":{_dumps(entity)},"occurred_at":{_dumps(occurred_at)},"payload":')
    middle = f',"source":{_dumps(source)},"subject_id":'
    sha = hashlib.sha256
    records = []
    for subject_id, payload in items:
        text = _dumps(payload)
        canon = f"{head}{text}{middle}{_dumps(subject_id)}}}"
        records.append({"occurred_at": occurred_at, "subject_id": subject_id,
                        "actor_id": actor_id, "source": source, "action": action,
                        "entity": entity, "payload": JSONText(text),
                        "digest": sha(canon.encode()).hexdigest()})
    return records
