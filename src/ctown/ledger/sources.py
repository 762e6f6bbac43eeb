"""What the ledger commits to: the source tables and the canonical record of each row.

Every capability declares its own sources (``Capability.ledger`` in its ``capability.py``); the
ledger knows none of them by name, so a new capability's table goes on the log by declaring it.

A leaf is ``canonical({"kind": kind, "ref": id, "record": record})`` — sorted keys, no spaces,
UTF-8 (:func:`ctown.registry.events.canonical`). ``ctown ledger verify`` re-derives every leaf from
its row, so a row changed, deleted or inserted behind the platform's back shows up by kind and id.

Sources are read in bulk through Core selects (no ORM objects), in id order, in chunks.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.capabilities import CapabilityError, capabilities
from ctown.registry.events import canonical


@dataclass(frozen=True)
class Source:
    """A table whose rows are appended to the ledger: ``kind`` names it in leaves and reports."""

    kind: str
    table: sa.Table
    id_column: str
    columns: tuple[str, ...]
    to_record: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def id_col(self) -> sa.Column[Any]:
        return self.table.c[self.id_column]

    def _select(self) -> sa.Select[Any]:
        return sa.select(*(self.table.c[c] for c in self.columns)).order_by(self.id_col)

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        return self.to_record(row) if self.to_record else row

    def after(self, session: Session, last_id: int | None, limit: int
              ) -> list[tuple[int, dict[str, Any]]]:
        """The next ``limit`` rows with an id above ``last_id`` (None: from the first), in order."""
        stmt = self._select() if last_id is None else self._select().where(self.id_col > last_id)
        return self._records(session.execute(stmt.limit(limit)).all())

    def leaves_after(self, session: Session, last_id: int | None, limit: int
                     ) -> list[tuple[int, bytes]]:
        """:meth:`after` as ``(id, leaf bytes)``: what appending needs, without the records."""
        if self.to_record is not None:
            return [(ref, leaf_bytes(self.kind, ref, record))
                    for ref, record in self.after(session, last_id, limit)]
        stmt = self._select() if last_id is None else self._select().where(self.id_col > last_id)
        encoder = LeafEncoder(self.kind, self.columns, self.id_column)
        rows = session.execute(stmt.limit(limit)).all()
        key = encoder.id_index
        return list(zip([int(r[key]) for r in rows], encoder.encode_all(rows), strict=True))

    def _records(self, rows: Sequence[Any]) -> list[tuple[int, dict[str, Any]]]:
        # Plain tuples zipped with the column names once: RowMapping per row costs more than
        # the hashing it feeds.
        names, key = self.columns, self.columns.index(self.id_column)
        return [(int(r[key]), self.record(dict(zip(names, r, strict=True)))) for r in rows]

    def by_ids(self, session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 5000):
            chunk = list(ids[start:start + 5000])
            rows = session.execute(self._select().where(self.id_col.in_(chunk))).all()
            out.update(self._records(rows))
        return out

    def ids_upto(self, session: Session, high: int) -> list[int]:
        stmt = sa.select(self.id_col).where(self.id_col <= high).order_by(self.id_col)
        return [int(i) for i in session.scalars(stmt)]

    def count(self, session: Session, after: int | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(self.table)
        if after is not None:
            stmt = stmt.where(self.id_col > after)
        return int(session.scalar(stmt) or 0)


def leaf_bytes(kind: str, ref: int, record: dict[str, Any]) -> bytes:
    return canonical({"kind": kind, "ref": ref, "record": record})


class LeafEncoder:
    """:func:`leaf_bytes` of plain row tuples, without building a dict per row and without the
    JSON encoder calling back into Python for every date (#12 item 10: every writer appends in
    its own commit, so this runs over every value a load writes). The bytes are the same as
    :func:`leaf_bytes` gives (``tests/test_properties_ledger.py`` checks it): keys sorted
    (``kind`` < ``record`` < ``ref``), no spaces, UTF-8, dates as ISO text, times in UTC."""

    def __init__(self, kind: str, columns: Sequence[str], id_column: str) -> None:
        self.order = sorted(range(len(columns)), key=columns.__getitem__)
        self.keys = [_string(columns[i]) + ":" for i in self.order]
        self.id_index = columns.index(id_column)
        self.head = '{"kind":' + _string(kind) + ',"record":{'

    def encode(self, row: Sequence[Any]) -> bytes:
        body = ",".join([k + _value(row[i]) for k, i in zip(self.keys, self.order, strict=True)])
        return (self.head + body + '},"ref":' + str(int(row[self.id_index])) + "}").encode()

    def encode_all(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """:meth:`encode` of many rows, column by column: one type decision per column and
        value (not per row and column through the whole chain), a third of the time."""
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        parts = [[k + v for v in _encode_column(columns[i])]
                 for k, i in zip(self.keys, self.order, strict=True)]
        tail = [f'}},"ref":{int(ref)}}}' for ref in columns[self.id_index]]
        return [(self.head + ",".join(cells) + end).encode()
                for cells, end in zip(zip(*parts, strict=True), tail, strict=True)]


def _string(text: str) -> str:
    result: str = json.encoder.encode_basestring(text)  # the escaping of ensure_ascii=False
    return result


def _encode_column(values: Sequence[Any]) -> list[str]:
    kinds = {type(v) for v in values} - {type(None)}
    fast = _FAST.get(kinds.pop()) if len(kinds) == 1 else None
    if fast is None:
        return [_value(v) for v in values]
    distinct = set(values)
    if len(distinct) * 4 < len(values):  # a batch's time, dates, codes: encode each once
        known = {v: "null" if v is None else fast(v) for v in distinct}
        return [known[v] for v in values]
    return ["null" if v is None else fast(v) for v in values]


def _value(v: Any) -> str:
    # Exact types first (a bool is an int, a datetime is a date); anything else goes through
    # the canonical encoder itself, so an unusual value can only be slower, never different.
    kind = type(v)
    if v is None:
        return "null"
    if kind is str:
        return _string(v)
    if kind is int:
        return int.__repr__(v)
    if kind is bool:
        return "true" if v else "false"
    if kind is dt.datetime:
        return f'"{v.astimezone(dt.UTC).isoformat()}"'
    if kind is dt.date:
        return f'"{v.isoformat()}"'
    if kind is decimal.Decimal:
        return f'"{v}"'
    return canonical(v).decode()  # floats, dicts, lists, JSON text


def _float(v: float) -> str:
    return float.__repr__(v) if math.isfinite(v) else canonical(v).decode()  # type: ignore[arg-type]


_FAST: dict[type, Callable[[Any], str]] = {
    str: _string, int: int.__repr__, float: _float, bool: lambda v: "true" if v else "false",
    dt.datetime: lambda v: f'"{v.astimezone(dt.UTC).isoformat()}"',
    dt.date: lambda v: f'"{v.isoformat()}"', decimal.Decimal: lambda v: f'"{v}"'}


def leaf_object(data: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(data.decode("utf-8"))
    return value


# -- the sources of this platform ----------------------------------------------------------------
def all_sources() -> dict[str, Source]:
    """What every capability declares (``Capability.ledger``), in capability order: the
    registry's change events (every credit-file change), the audit trail and credit-report
    queries, the credit-file values, the grades, the loan decisions…"""
    found: dict[str, Source] = {}
    for cap in capabilities():
        for declared in cap.ledger:
            if declared.kind in found:
                raise CapabilityError(f"ledger source {declared.kind!r} declared twice "
                                      f"(again by {cap.name})")
            found[declared.kind] = Source(declared.kind, declared.table(), declared.id_column,
                                          declared.columns)
    return found


def iter_records(session: Session, source: Source, chunk: int = 5000
                 ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    last: int | None = None
    while True:
        rows = source.after(session, last, chunk)
        if not rows:
            return
        yield rows
        last = rows[-1][0]
