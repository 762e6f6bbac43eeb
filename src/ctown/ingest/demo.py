"""Demo: load the demo county folder exactly as ``ctown ingest <folder>`` does (the regions, every
department, the consent register: :func:`ctown.ingest.tasks.plan` and :func:`~ctown.ingest.tasks.run`,
which commit file by file), then two late consents.

Idempotent: a file already loaded is recognised by its SHA-256 and skipped, a consent already
recorded by its form number. The demo county's injected defects leave rows in the quarantine and
identities to confirm, so those pages have work. The consent register (~92 % of households) loads
after the household register, so the others' consent-required values are held (授权暂存); then
two households of the first village sign late, and their held values are released (audited).

Then every department of the mapping files is registered (部门登记) with one push key; the keys
are written once to ``demo-department-keys.json`` in the var folder (owner-only), so the push API
can be tried with them (demo only: a real key is printed once and kept nowhere).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session

from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.ingest.feeds import add_department, issue_key
from ctown.ingest.hold import grant_and_release
from ctown.ingest.mapping import load_mappings
from ctown.ingest.models import Department, HeldValue
from ctown.ingest.tasks import plan, run
from ctown.privacy.models import Consent
from ctown.registry.models import Region, Subject

console = Console(stderr=True)
LATE_SIGNERS = 2
KEYS_FILE = "demo-department-keys.json"
SHOWN = ("received", "accepted", "quarantined", "duplicates", "held_values")


def build(session: Session, ctx: DemoContext) -> None:
    if ctx.factory is None:
        raise ValueError("the feeds load in transactions of their own, as `ctown ingest` does: "
                         "the demo context needs a session factory")
    planned, skipped = plan([ctx.workdir])
    totals = run(ctx.factory, ctx.cipher, planned, skipped=skipped).to_json()
    console.print(f"  consents: {totals['consents']['granted']:,} signed", highlight=False)
    console.print("  feeds: " + ", ".join(f"{k} {totals[k]:,}" for k in SHOWN), highlight=False)
    _late_signers(session, ctx.cipher)
    _departments(session, ctx.settings.var_dir / KEYS_FILE)


def _late_signers(session: Session, cipher: FieldCipher) -> None:
    """Two households of the first village sign after the feeds came in: a visible release."""
    if session.scalar(sa.select(Consent.id).where(Consent.form_no.startswith("DEMO-")).limit(1)):
        return
    village = session.scalar(sa.select(Region.code).where(Region.level == "village")
                             .order_by(Region.code).limit(1))
    waiting = session.scalars(
        sa.select(HeldValue.household_id).join(Subject, Subject.id == HeldValue.household_id)
        .where(Subject.region_code == village).group_by(HeldValue.household_id)
        .order_by(HeldValue.household_id).limit(LATE_SIGNERS)).all()
    today = utcnow().date() - dt.timedelta(days=1)
    for hh in waiting:
        _c, released = grant_and_release(session, cipher, None, subject_id=hh, signed_on=today,
                                         form_no=f"DEMO-{hh}")
        console.print(f"  late consent: household {hh}, released {released['values']} values",
                      highlight=False)


def _departments(session: Session, keys_file: Path) -> None:
    """Register the departments of the mapping files not yet registered, one key each."""
    known = set(session.scalars(sa.select(Department.code)))
    keys: dict[str, str] = {}
    for code, mapping in sorted(load_mappings().items()):
        if code in known:
            continue
        add_department(session, None, code=code, name=mapping.name_zh, contact="演示 demo")
        keys[code] = issue_key(session, None, code).key
    if not keys:
        return
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({**saved, **keys}, fh, ensure_ascii=False, indent=1)
    console.print(f"  departments: {len(keys)} registered, push keys in {keys_file}",
                  highlight=False)
