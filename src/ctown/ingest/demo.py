"""Demo: load every department folder of the demo county (the regions are already loaded).

Idempotent: a file already loaded is recognised by its SHA-256 and skipped. The demo county's
injected defects leave rows in the quarantine and identities to confirm, so those pages have work.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session

from ctown.ingest.service import load_file
from ctown.ingest.tasks import plan
from ctown.privacy.crypto import FieldCipher
from ctown.settings import Settings

console = Console(stderr=True)


def build(session: Session, settings: Settings, workdir: Path) -> None:
    cipher = FieldCipher.from_settings(settings)
    planned, _skipped = plan([workdir])
    totals = {"received": 0, "accepted": 0, "quarantined": 0, "duplicates": 0}
    for item in planned:
        if item.department is None:  # regions: loaded by the demo before the capabilities
            continue
        report = load_file(session, cipher, item.path, item.department)
        for key in totals:
            totals[key] += getattr(report, key)
    console.print("  feeds: " + ", ".join(f"{k} {v:,}" for k, v in totals.items()),
                  highlight=False)
