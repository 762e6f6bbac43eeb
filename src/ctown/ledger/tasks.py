"""Batch work of the ledger: append what the sources hold beyond the log, then sign a checkpoint.

``append_pending`` is what every writer's commit (:mod:`ctown.ledger.keeping`), the demo and
``ctown ledger checkpoint`` call: one batch per call (call again while it returns a positive
number). Each source is read in id order after the
largest id the log already holds, so appending is idempotent and resumable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ctown.ledger import service
from ctown.ledger.sources import all_sources
from ctown.settings import get_settings

if TYPE_CHECKING:
    from ctown.settings import Settings

BATCH = 20_000


def append_pending(session: Session, settings: Settings | None = None, batch: int = BATCH,
                   *, sign: bool = True) -> int:
    """Append up to ``batch`` new source records (all kinds) and sign a checkpoint (unless
    ``sign`` is false: a writer's own commit, see :mod:`ctown.ledger.keeping`); returns how
    many were appended (0 when the log is up to date). Settings default to the environment's
    (they locate the signing key in ``var/`` and choose the hash of a new log)."""
    settings = settings or get_settings()
    log = service.open_log(session, settings, lock=True)
    tree = service.tree(session, log)
    leaves: list[tuple[str, int, bytes]] = []
    for kind, source in all_sources().items():
        room = batch - len(leaves)
        if room <= 0:
            break
        rows = source.leaves_after(session, tree.high_water(kind), room)
        leaf = tree.hasher.leaves(data for _, data in rows)
        leaves.extend(zip([kind] * len(rows), [ref for ref, _ in rows], leaf, strict=True))
    if leaves:
        service.append(session, settings, leaves)
        if sign:
            service.make_checkpoint(session, settings)
    return len(leaves)


def append_all(session: Session, settings: Settings | None = None, batch: int = BATCH) -> int:
    """Append everything pending (used by the demo and the checkpoint command)."""
    total = 0
    while (done := append_pending(session, settings, batch)) > 0:
        total += done
    return total
