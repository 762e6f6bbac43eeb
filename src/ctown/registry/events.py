"""Canonical form and digest of change events (the bytes the ledger commits to)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as its JSON column will give it back (dates as ISO text)."""
    if any(isinstance(v, dict | list | tuple) for v in payload.values()):
        result: dict[str, Any] = json.loads(canonical(payload))
        return result
    return {k: _default(v) if isinstance(v, dt.date) else v for k, v in payload.items()}


def canonical(event: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same event always gives the same bytes."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default).encode()


def event_record(*, occurred_at: dt.datetime, subject_id: int | None, actor_id: int | None,
                 source: str, action: str, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"occurred_at": occurred_at, "subject_id": subject_id, "actor_id": actor_id,
            "source": source, "action": action, "entity": entity, "payload": payload}


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()
