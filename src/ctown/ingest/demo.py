"""Demo: load every department folder of the demo county (the regions are already loaded).

Idempotent: a file already loaded is recognised by its SHA-256 and skipped, a consent already
recorded by its form number. The demo county's injected defects leave rows in the quarantine and
identities to confirm, so those pages have work. The consent register (~92 % of households) loads
after the household register, so the others' consent-required values are held (授权暂存); then
two households of the first village sign late, and their held values are released (audited).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session

from ctown.db import utcnow
from ctown.ingest.consents import import_consents
from ctown.ingest.hold import grant_and_release
from ctown.ingest.models import HeldValue
from ctown.ingest.service import load_file
from ctown.ingest.tasks import CONSENTS, plan
from ctown.privacy.crypto import FieldCipher
from ctown.privacy.models import Consent
from ctown.registry.models import Region, Subject
from ctown.settings import Settings

console = Console(stderr=True)
LATE_SIGNERS = 2


def build(session: Session, settings: Settings, workdir: Path) -> None:
    cipher = FieldCipher.from_settings(settings)
    planned, _skipped = plan([workdir])
    totals = {"received": 0, "accepted": 0, "quarantined": 0, "duplicates": 0, "held_values": 0}
    for item in planned:
        if item.kind == CONSENTS:
            granted = import_consents(session, cipher, item.path)["granted"]
            console.print(f"  consents: {granted:,} signed", highlight=False)
            continue
        if item.department is None:  # regions: loaded by the demo before the capabilities
            continue
        report = load_file(session, cipher, item.path, item.department)
        for key in totals:
            totals[key] += getattr(report, key)
    console.print("  feeds: " + ", ".join(f"{k} {v:,}" for k, v in totals.items()),
                  highlight=False)
    _late_signers(session, cipher)


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
