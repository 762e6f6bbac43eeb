"""The demo of collection points and 三率 on both databases: visible data, idempotent, counts only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session
from tests.factories import build_county

from ctown.capabilities import DemoContext
from ctown.collection import demo as collection_demo
from ctown.collection import status as collection_status
from ctown.crypto import FieldCipher
from ctown.quality import demo as quality_demo
from ctown.quality import status as quality_status
from ctown.settings import Settings


def test_demo_is_visible_and_idempotent(session: Session, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=6)
    ctx = DemoContext.of(settings, tmp_path / "work", county.users.values())
    for _ in range(2):
        collection_demo.build(session, ctx)
        quality_demo.build(session, ctx)
    counts = collection_status.counts(session)
    assert counts["collection.terminals"] == 2 and counts["collection.terminals_revoked"] == 1
    assert counts["collection.batches"] == 15
    assert counts["collection.records_accepted"] > 0
    assert counts["collection.records_rejected"] == 15  # one unknown household in every batch
    assert counts["collection.refusals"] == 2  # the replay and the revoked terminal
    assert quality_status.counts(session) == {"quality.probes": 1, "quality.probes_failed": 0}
