"""Demo: every change event of the synthetic county goes on the ledger, with a signed checkpoint
and one offline receipt in the work folder for the auditor to try the standalone verifier."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from ctown.capabilities import DemoContext
from ctown.ledger import receipts, service, tasks


def build(session: Session, ctx: DemoContext) -> None:
    settings, workdir = ctx.settings, ctx.workdir
    tasks.append_all(session, settings)
    log = service.open_log(session, settings)
    if log.size == 0:
        return
    service.make_checkpoint(session, settings)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ledger-key.txt").write_text(log.vkey + "\n", encoding="utf-8")
    receipt = receipts.build_receipt(session, settings, 0)
    (workdir / "ledger-receipt-0.json").write_text(
        json.dumps(receipt, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
