"""Demo: a registered terminal in the first village with a few months of uploads, a replay that
was refused and a revoked terminal — so the form, the terminal page and 三率 have data to show."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.catalogue.service import load_catalogue
from ctown.collection import keys, protocol
from ctown.collection.models import CollectionBatch, Terminal
from ctown.collection.protocol import Record
from ctown.collection.service import Refused, receive_batch, register_terminal, revoke_terminal
from ctown.registry.models import Subject

HOUSEHOLDS = 24
UPLOADS_PER_MONTH = 5


def build(session: Session, ctx: DemoContext) -> None:
    officer = ctx.user(session, Role.village_officer)  # the first village's
    if officer is None:
        return
    households = list(session.scalars(sa.select(Subject.household_no).where(
        Subject.kind == "household", Subject.region_code == officer.region_code)
        .order_by(Subject.id).limit(HOUSEHOLDS)))
    if not households:
        return  # the feeds have not created the village's households: nothing to collect on
    workdir = ctx.workdir
    terminal = _terminal(session, workdir / "collection" / "village-terminal.key",
                         officer.region_code, "演示采集点")
    if session.scalar(sa.select(CollectionBatch.id).where(
            CollectionBatch.terminal_id == terminal.id).limit(1)) is not None:
        return  # built before: reuse
    env = _Env(session, ctx)
    today = dt.datetime.now(dt.UTC).date()
    last = b""
    for month_back in (2, 1, 0):
        for upload in range(UPLOADS_PER_MONTH):
            day = _day(today, month_back, upload)
            records = _records(households, upload, day, officer.display_name)
            last = protocol.pack(records, terminal_key=env.key, county_key=env.public)
            env.receive(last)
    env.receive(last)  # a replay: refused and logged
    _revoked_terminal(session, env, officer.region_code, workdir)


class _Env:
    def __init__(self, session: Session, ctx: DemoContext) -> None:
        self.session = session
        self.county = keys.county_private_key(ctx.settings)
        self.public = self.county.public_key()
        self.cipher = ctx.cipher
        self.catalogue = load_catalogue()
        self.key = keys.read_terminal_key(ctx.workdir / "collection" / "village-terminal.key")

    def receive(self, envelope: bytes) -> None:
        # Refusals are logged: that is what the demo shows.
        with contextlib.suppress(Refused):
            receive_batch(self.session, envelope, county_key=self.county, cipher=self.cipher,
                          catalogue=self.catalogue, client="demo")


def _terminal(session: Session, path: Path, village: str, name: str) -> Terminal:
    if not path.exists():
        keys.write_terminal_key(path)
    public = path.with_name(path.name + ".pub").read_text().strip()
    existing = session.get(Terminal, protocol.terminal_id_for(protocol.b64d(public)))
    if existing is not None:
        return existing
    return register_terminal(session, actor=None, public_key=public, village_code=village,
                             name=name, via="demo")


def _day(today: dt.date, month_back: int, upload: int) -> dt.date:
    first = (today.replace(day=1) - dt.timedelta(days=28 * month_back)).replace(day=1)
    return min(first + dt.timedelta(days=1 + upload * 5), today)


def _records(households: list[str | None], upload: int, day: dt.date, officer: str
             ) -> list[Record]:
    out: list[Record] = []
    for i, hno in enumerate(households):
        if hno is None or (i + upload) % 3:
            continue
        out.append(Record(hno, "I1101", str(1 + (i + upload) % 3), day.isoformat(), officer))
        out.append(Record(hno, "I1102", str(2 * (i % 7) + upload), day.isoformat(), officer))
        out.append(Record(hno, "I1104", str(60 + (i * 7 + upload) % 40), day.isoformat(), officer))
    out.append(Record("H-UNKNOWN", "I1103", "1", day.isoformat(), officer))  # returned with reason
    return out


def _revoked_terminal(session: Session, env: _Env, village: str, workdir: Path) -> None:
    path = workdir / "collection" / "lost-terminal.key"
    terminal = _terminal(session, path, village, "遗失的平板")
    revoke_terminal(session, actor=None, terminal_id=terminal.id, reason="设备遗失 / device lost")
    env.receive(protocol.pack([], terminal_key=keys.read_terminal_key(path),
                              county_key=env.public))
