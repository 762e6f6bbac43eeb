"""The configuration's versions and proposals as the JSON API answers them (no file contents:
a file is named with its SHA-256; a proposal's changes carry the unified diff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from ctown.config.diffs import FileChange
from ctown.config.models import ConfigProposal, ConfigVersion


class FileOut(BaseModel):
    name: str
    sha256: str


class ChangeOut(BaseModel):
    name: str
    status: str
    before_origin: str | None
    after_origin: str | None
    diff: str


class VersionOut(BaseModel):
    version: int
    sha256: str
    files: list[FileOut]
    proposal_id: int
    bank_code: str | None
    note: str
    rollback_of: int | None
    proposed_by: str | None
    approved_by: str | None
    proposed_at: dt.datetime
    approved_at: dt.datetime


class ProposalOut(BaseModel):
    id: int
    kind: str
    status: str
    files: list[FileOut]
    removes: list[str]
    rollback_of: int | None
    base_version: int
    bank_code: str | None
    note: str
    proposed_by: str | None
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    version: int | None
    changes: list[ChangeOut] | None = None


class ProposeIn(BaseModel):
    """Files by their name in the folder (``products/x.yaml``) and their text."""

    files: dict[str, str] = Field(default_factory=dict, max_length=200)
    remove: list[str] = Field(default_factory=list, max_length=200)
    note: str = Field(default="", max_length=500)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class RollbackIn(BaseModel):
    note: str = Field(default="", max_length=500)


def _files(stored: list[dict[str, Any]]) -> list[FileOut]:
    return [FileOut(name=str(f["name"]), sha256=str(f["sha256"])) for f in stored]


def version_out(v: ConfigVersion, names: dict[int, str]) -> VersionOut:
    return VersionOut(version=v.version, sha256=v.sha256, files=_files(v.files),
                      proposal_id=v.proposal_id, bank_code=v.bank_code, note=v.note,
                      rollback_of=v.rollback_of, proposed_by=names.get(v.proposed_by_id),
                      approved_by=names.get(v.approved_by_id), proposed_at=v.proposed_at,
                      approved_at=v.approved_at)


def proposal_out(p: ConfigProposal, names: dict[int, str],
                 changes: list[FileChange] | None = None) -> ProposalOut:
    return ProposalOut(
        id=p.id, kind=p.kind, status=p.status, files=_files(p.files), removes=list(p.removes),
        rollback_of=p.rollback_of, base_version=p.base_version, bank_code=p.bank_code,
        note=p.note, proposed_by=names.get(p.proposed_by_id), proposed_at=p.proposed_at,
        decided_by=names.get(p.decided_by_id) if p.decided_by_id else None,
        decided_at=p.decided_at, reason=p.reason, version=p.version,
        changes=None if changes is None else [ChangeOut.model_validate(c.as_dict())
                                              for c in changes])
