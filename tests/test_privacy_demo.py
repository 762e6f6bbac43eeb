"""The privacy and ledger demo steps: something for each role, idempotent, and the receipt they
leave in the work folder verifies with the standalone verifier."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session
from tests.factories import COUNTY, build_county

from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.ledger import demo as ledger_demo
from ctown.ledger import integrity
from ctown.ledger import status as ledger_status
from ctown.ledger.verifier import check_receipt
from ctown.privacy import demo as privacy_demo
from ctown.privacy import status as privacy_status
from ctown.report import demo as report_demo
from ctown.settings import get_settings


def test_demo_steps_are_idempotent_and_verifiable(session: Session, tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=2)
    county.users["bank"].bank_code = "RCB"
    privacy = create_user(session, username="privacy", password=None, role=Role.privacy_officer,
                          region_code=COUNTY)
    ctx = DemoContext.of(settings, tmp_path / "work", [*county.users.values(), privacy])
    for _ in range(2):
        privacy_demo.build(session, ctx)
        report_demo.build(session, ctx)
        ledger_demo.build(session, ctx)
    counts = privacy_status.counts(session)
    assert counts["privacy.consents"] == 2 and counts["privacy.queries.refused"] == 1
    assert counts["privacy.queries"] == 2 and counts["privacy.objections.open"] == 1
    assert counts["privacy.complaints.open"] == 1
    ledger_counts = ledger_status.counts(session)
    assert ledger_counts["ledger.leaves"] == sum(
        v for k, v in ledger_counts.items() if k.startswith("ledger.leaves."))
    assert ledger_counts["ledger.leaves.credit_query"] == 2
    assert integrity.verify_log(session).ok
    key = (tmp_path / "work" / "ledger-key.txt").read_text().strip()
    receipt = json.loads((tmp_path / "work" / "ledger-receipt-0.json").read_text())
    assert check_receipt(receipt, key).valid
