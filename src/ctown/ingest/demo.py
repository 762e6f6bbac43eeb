"""Demo: load the demo county folder exactly as ``ctown ingest <folder>`` does (the regions, every
department, the consent register: :func:`ctown.ingest.tasks.plan` and :func:`~ctown.ingest.tasks.run`,
which commit file by file), then two late consents.

Idempotent: a file already loaded is recognised by its SHA-256 and skipped, a consent already
recorded by its form number. The demo county's injected defects leave rows in the quarantine and
identities to confirm, so those pages have work. The consent register (~92 % of households) loads
after the household register, so the others' consent-required values are held (授权暂存); then
two households of the first village sign late, and their held values are released (audited).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session

from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.ingest.hold import grant_and_release
from ctown.ingest.models import HeldValue
from ctown.ingest.tasks import plan, run
from ctown.privacy.models import Consent
from ctown.registry.models import Region, Subject

console = Console(stderr=True)
LATE_SIGNERS = 2
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
