"""Tables of the county's configuration (县级配置): proposals and the live versions they became.

A proposal (配置变更提议) changes status (pending → approved or rejected); a live version (生效版本)
is written once and never changed: its number, every file of the folder with its SHA-256 and its
content, who proposed and who approved it, when. Live versions go on the tamper-evident ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

# The tables referenced by foreign keys must be known to the metadata whoever imports us first.
import ctown.accounts.models  # noqa: F401
from ctown.db import Base, UTCDateTime, utcnow

#: A file as stored: ``{"name": "products/x.yaml", "sha256": "…", "content": "…"}``.
StoredFile = dict[str, Any]


class ConfigProposal(Base):
    """A change of the configuration folder, proposed by one person, decided by another.

    ``kind`` is ``change`` (``files`` are put over the live folder, ``removes`` taken out) or
    ``rollback`` (the folder becomes exactly ``files``, the content of live version
    ``rollback_of``). ``bank_code`` is set when every file is a product of that bank: its officers
    see the proposal."""

    __tablename__ = "config_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), default="change")
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    files: Mapped[list[StoredFile]] = mapped_column(sa.JSON, default=list)
    removes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    rollback_of: Mapped[int | None] = mapped_column(sa.Integer)
    #: The live version when proposed (0: none yet).
    base_version: Mapped[int] = mapped_column(sa.Integer, default=0)
    bank_code: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    #: The live version it became.
    version: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.CheckConstraint("kind IN ('change', 'rollback')", name="kind"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    )


class ConfigVersion(Base):
    """One live version of the configuration folder, append-only: every file it held."""

    __tablename__ = "config_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, unique=True)
    files: Mapped[list[StoredFile]] = mapped_column(sa.JSON, default=list)
    #: SHA-256 of the sorted "name sha256" lines: the whole folder in one value.
    sha256: Mapped[str] = mapped_column(sa.String(64))
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("config_proposals.id"))
    bank_code: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    rollback_of: Mapped[int | None] = mapped_column(sa.Integer)
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    approved_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
