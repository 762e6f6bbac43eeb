"""The county's configuration (县级配置): check, propose, approve (两人审批), roll back.

The live folder (:mod:`ctown.configdir`) holds the county's files; every change of it is a
proposal by one person that another approves. A proposal is checked when made and again when
approved (the live folder may have changed in between); approving writes the folder all or
nothing (:func:`ctown.configdir.publish`) and records a live version: every file of the folder,
its SHA-256 and content, who proposed and who approved it. A rollback is a proposal of an earlier
version's content, approved the same way; it becomes a new version. Values computed earlier keep
the version numbers they were computed under (a catalogue, mapping, product, card or grade table
whose content changed under an unchanged ``version`` is refused).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from ctown import configdir
from ctown.access.scope import allowed, get_for, reaches_values, require, scope
from ctown.accounts.models import User
from ctown.audit import audit
from ctown.catalogue.models import CatalogueVersion
from ctown.catalogue.service import register_version
from ctown.config import checks
from ctown.config.access import PROPOSALS, VERSIONS
from ctown.config.diffs import FileChange, changes
from ctown.config.models import ConfigProposal, ConfigVersion, StoredFile
from ctown.config.upload import safe_name
from ctown.db import utcnow
from ctown.errors import Conflict, Forbidden, Invalid
from ctown.i18n import Message, _

Files = dict[str, bytes]


class ConfigInvalid(Invalid):
    """A configuration that does not pass the checks: every problem, one line each."""

    def __init__(self, problems: list[checks.Problem]) -> None:
        super().__init__(Message(_("配置有 {count} 处问题，未予接受"), {"count": len(problems)}))
        self.problems = problems

    def lines(self, locale: str | None = None) -> list[str]:
        return [p.text(locale) for p in self.problems]


# -- files ------------------------------------------------------------------------------------------
def stored(files: Mapping[str, bytes]) -> list[StoredFile]:
    """Files as a version or proposal keeps them (checked files: UTF-8 text)."""
    return [{"name": name, "sha256": configdir.sha256(data), "content": data.decode("utf-8")}
            for name, data in sorted(files.items())]


def contents(files: Iterable[StoredFile]) -> Files:
    return {str(f["name"]): str(f["content"]).encode("utf-8") for f in files}


def folder_sha(files: Mapping[str, bytes]) -> str:
    """One SHA-256 for a whole folder: of its sorted ``name sha256`` lines."""
    lines = "".join(f"{n} {configdir.sha256(d)}\n" for n, d in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def disk_files(folder: Path | None) -> Files:
    """The files of the live folder as they are on disk (none without a folder)."""
    if folder is None:
        return {}
    if folder.is_dir():
        configdir.recover(folder)
    return {n: p.read_bytes() for n, p in configdir.folder_files(folder).items()}


def latest(session: Session) -> ConfigVersion | None:
    """The live version: the last one recorded."""
    return session.scalar(sa.select(ConfigVersion).order_by(ConfigVersion.version.desc())
                          .limit(1))


def base_files(session: Session, folder: Path | None) -> Files:
    """What a change is put over: the live version's files; before the first version, the
    folder as found (a county that had files there before it used proposals keeps them)."""
    live = latest(session)
    return contents(live.files) if live is not None else disk_files(folder)


def target_of(session: Session, proposal: ConfigProposal, folder: Path | None) -> Files:
    """The folder as it would be after approving ``proposal`` now."""
    if proposal.kind == "rollback":
        return contents(proposal.files)
    target = base_files(session, folder)
    target.update(contents(proposal.files))
    for name in proposal.removes:
        target.pop(name, None)
    return target


# -- checking -------------------------------------------------------------------------------------
def earlier_contents(session: Session | None, folder: Path | None) -> dict[str, list[bytes]]:
    """Every content each name had: packaged, in the live folder, in every recorded version."""
    earlier: dict[str, list[bytes]] = {}
    sources: list[Mapping[str, bytes]] = [
        {n: p.read_bytes() for n, p in configdir.defaults().items()}, disk_files(folder)]
    if session is not None:
        sources += [contents(files) for files in session.scalars(sa.select(ConfigVersion.files))]
    for source in sources:
        for name, data in source.items():
            earlier.setdefault(name, []).append(data)
    return earlier


def check_dir(folder: Path | None, shown: str | None, live: Path | None) -> list[checks.Problem]:
    """``ctown config check``: ``folder`` merged over the defaults, without a database."""
    return checks.check_folder(folder, shown, earlier_contents(None, live)).problems


@dataclass
class Checked:
    problems: list[checks.Problem]
    catalogue: Any = None


def check_files(session: Session, target: Mapping[str, bytes], folder: Path | None) -> Checked:
    """Check a folder's future content (written to a scratch folder), against the history too:
    a catalogue version recorded with another content is refused."""
    with tempfile.TemporaryDirectory(prefix="ctown-config-") as tmp:
        root = Path(tmp)
        for name, data in target.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        outcome = checks.check_folder(root, None, earlier_contents(session, folder))
        catalogue = outcome.view.catalogue
        problems = list(outcome.problems)
        if catalogue is not None:
            known = session.get(CatalogueVersion, catalogue.version)
            if known is not None and known.sha256 != catalogue.sha256:
                name = "catalogue.yaml" if "catalogue.yaml" in target else catalogue.source
                problems.append(checks.Problem(name, _version_line(target.get(
                    "catalogue.yaml")), "version", Message(_(
                        "目录版本 {version} 已以不同内容登记过：修改目录后请提高版本号"),
                        {"version": catalogue.version})))
    return Checked(problems, catalogue)


def _version_line(data: bytes | None) -> int:
    lines = (data or b"").decode("utf-8-sig", errors="replace").splitlines()
    return next((i for i, line in enumerate(lines, 1) if line.startswith("version:")), 1)


def _checked(session: Session, target: Files, folder: Path | None) -> Checked:
    result = check_files(session, target, folder)
    if result.problems:
        raise ConfigInvalid(result.problems)
    return result


# -- who may propose what ----------------------------------------------------------------------------
def _bank_code(data: bytes | None) -> str | None:
    try:
        doc = yaml.safe_load((data or b"").decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    code = doc.get("bank_code") if isinstance(doc, dict) else None
    return str(code) if code else None


def _owners(name: str, data: bytes | None, live: Mapping[str, bytes]) -> set[str]:
    """The banks a changed file belongs to: a product's bank before and after the change (a
    bank cannot take over another bank's product by changing its ``bank_code``); none for any
    other file, and for a product that names no bank: those are the county's."""
    kind = configdir.kind_of(name)
    if kind is None or kind.name != "products":
        return set()
    new = _bank_code(data) if data is not None else None
    if data is not None and new is None:
        return set()
    return {b for b in (new, _bank_code(live.get(name))) if b}


def _banks_of_change(actor: User, changed: Mapping[str, bytes | None], live: Mapping[str, bytes]
                     ) -> str | None:
    """Refuse a file the actor may not propose; the one bank all files belong to, if any."""
    banks: set[str | None] = set()
    for name, data in changed.items():
        owners = _owners(name, data, live)
        ok = (all(reaches_values(actor, "config", "propose", bank=b) for b in owners)
              if owners else reaches_values(actor, "config", "propose"))
        if not ok:
            raise Forbidden(Message(_("您只能提议本行的产品文件，{name} 不是"), {"name": name}))
        banks |= owners if len(owners) == 1 else {None}
    return next(iter(banks)) if len(banks) == 1 else None


# -- proposing ------------------------------------------------------------------------------------
def propose(session: Session, actor: User, files: Mapping[str, bytes], note: str, *,
            folder: Path | None, removes: Iterable[str] = ()) -> ConfigProposal:
    """Propose putting ``files`` into the live folder (and taking ``removes`` out), checked."""
    require(actor, "config", "propose")
    removes = sorted(set(removes))
    if not files and not removes:
        raise Invalid(Message(_("没有提议任何文件")))
    for name in [*files, *removes]:
        safe_name(name)
    base = base_files(session, folder)
    live = {**_packaged(), **base}
    bank = _banks_of_change(actor, {**dict.fromkeys(removes), **files}, live)
    target = {**base, **files}
    for name in removes:
        if name not in target:
            raise Invalid(Message(_("配置目录中没有 {name}，无法移除"), {"name": name}))
        target.pop(name)
    _checked(session, target, folder)
    if not changes(disk_files(folder), target):
        raise Invalid(Message(_("提议的文件与生效版本相同，没有变化")))
    proposal = ConfigProposal(kind="change", status="pending", files=stored(files),
                              removes=removes, base_version=_number(session), bank_code=bank,
                              note=note[:500], proposed_by_id=actor.id, proposed_at=utcnow())
    session.add(proposal)
    session.flush()
    audit(session, actor, "config.propose", f"config proposal {proposal.id}",
          files=sorted(files), removes=removes)
    return proposal


def propose_rollback(session: Session, actor: User, number: int, note: str, *,
                     folder: Path | None) -> ConfigProposal:
    """Propose putting live version ``number`` live again (0: the packaged defaults alone)."""
    require(actor, "config", "rollback")
    if number == 0:
        files: Files = {}
    else:
        files = contents(get_version_for(session, actor, number).files)
    _checked(session, files, folder)
    if not changes(disk_files(folder), files):
        raise Invalid(Message(_("版本 {version} 的内容就是当前生效的内容"), {"version": number}))
    proposal = ConfigProposal(kind="rollback", status="pending", files=stored(files), removes=[],
                              rollback_of=number, base_version=_number(session),
                              note=note[:500], proposed_by_id=actor.id, proposed_at=utcnow())
    session.add(proposal)
    session.flush()
    audit(session, actor, "config.rollback", f"config proposal {proposal.id}", version=number)
    return proposal


def _number(session: Session) -> int:
    live = latest(session)
    return live.version if live is not None else 0


def _packaged() -> Files:
    return {n: p.read_bytes() for n, p in configdir.defaults().items()}


# -- deciding ---------------------------------------------------------------------------------------
def _pending_for(session: Session, actor: User, proposal_id: int) -> ConfigProposal:
    require(actor, "config", "approve")
    proposal: ConfigProposal = get_for(session, actor, PROPOSALS, proposal_id, "approve")
    if proposal.status != "pending":
        raise Conflict(Message(_("提议 {id} 已处理（{status}）"),
                               {"id": proposal.id, "status": proposal.status}))
    return proposal


def approve(session: Session, actor: User, proposal_id: int, *, folder: Path | None,
            step: configdir.Step | None = None) -> ConfigVersion:
    """Put a proposal live (another person than its proposer): checked again, recorded as a new
    live version, the folder written all or nothing. The folder is written last, so a refusal
    or a failed check leaves it as it was."""
    proposal = _pending_for(session, actor, proposal_id)
    if proposal.proposed_by_id == actor.id:
        raise Forbidden(Message(_("提议人不能批准自己的提议：须由另一人批准")))
    if folder is None:
        raise Invalid(Message(_("未设置配置目录（CTOWN_CONFIG_DIR），无法生效")))
    target = target_of(session, proposal, folder)
    result = _checked(session, target, folder)
    now = utcnow()
    version = ConfigVersion(
        version=_number(session) + 1, files=stored(target), sha256=folder_sha(target),
        proposal_id=proposal.id, bank_code=proposal.bank_code, note=proposal.note,
        rollback_of=proposal.rollback_of, proposed_by_id=proposal.proposed_by_id,
        approved_by_id=actor.id, proposed_at=proposal.proposed_at, approved_at=now)
    proposal.status, proposal.decided_by_id, proposal.decided_at = "approved", actor.id, now
    proposal.version = version.version
    session.add(version)
    try:
        session.flush()
    except sa.exc.IntegrityError:  # another approval took the number first (the unique index)
        raise Conflict(Message(_("另一版本刚刚生效，请重新批准"))) from None
    if result.catalogue is not None:
        register_version(session, result.catalogue)
    audit(session, actor, "config.approve", f"config version {version.version}",
          proposal=proposal.id, sha256=version.sha256)
    configdir.publish(folder, target, version.version, step)
    return version


def reject(session: Session, actor: User, proposal_id: int, reason: str) -> ConfigProposal:
    """Turn a proposal down, with the reason (the proposer reads it)."""
    proposal = _pending_for(session, actor, proposal_id)
    if not reason.strip():
        raise Invalid(Message(_("请填写驳回理由")))
    proposal.status, proposal.decided_by_id, proposal.decided_at = "rejected", actor.id, utcnow()
    proposal.reason = reason.strip()[:500]
    session.flush()
    audit(session, actor, "config.reject", f"config proposal {proposal.id}")
    return proposal


def sync(session: Session, actor: User | None, folder: Path | None) -> int:
    """Write the live version's files into the folder again (after a failed write, or a folder
    edited by hand): the recorded version is what counts. Returns its number (0: none)."""
    if actor is not None:
        require(actor, "config", "approve")
    if folder is None:
        raise Invalid(Message(_("未设置配置目录（CTOWN_CONFIG_DIR），无法生效")))
    live = latest(session)
    number = live.version if live is not None else 0
    configdir.publish(folder, contents(live.files) if live else {}, number)
    audit(session, actor, "config.sync", f"config version {number}")
    return number


# -- reading --------------------------------------------------------------------------------------
def versions_for(session: Session, actor: User | None) -> list[ConfigVersion]:
    require(actor, "config_version", "view")
    stmt = sa.select(ConfigVersion).order_by(ConfigVersion.version.desc())
    return list(session.scalars(scope(stmt, actor, VERSIONS)))


def proposals_for(session: Session, actor: User | None, status: str | None = None
                  ) -> list[ConfigProposal]:
    require(actor, "config", "view")
    stmt = sa.select(ConfigProposal).order_by(ConfigProposal.id.desc())
    if status:
        stmt = stmt.where(ConfigProposal.status == status)
    return list(session.scalars(scope(stmt, actor, PROPOSALS)))


def get_version_for(session: Session, actor: User | None, number: int) -> ConfigVersion:
    version: ConfigVersion = get_for(session, actor, VERSIONS, number)
    return version


def get_proposal_for(session: Session, actor: User | None, proposal_id: int) -> ConfigProposal:
    proposal: ConfigProposal = get_for(session, actor, PROPOSALS, proposal_id)
    return proposal


def proposal_changes(session: Session, proposal: ConfigProposal, folder: Path | None
                     ) -> list[FileChange]:
    """What approving the proposal now would change in what is live (the folder on disk)."""
    return changes(disk_files(folder), target_of(session, proposal, folder))


def dir_changes(session: Session, files: Mapping[str, bytes], folder: Path | None
                ) -> list[FileChange]:
    """``ctown config diff DIR``: what proposing these files would change in what is live."""
    return changes(disk_files(folder), {**base_files(session, folder), **files})


def version_changes(session: Session, version: ConfigVersion) -> list[FileChange]:
    """What a live version changed against the one before it."""
    before = session.scalar(sa.select(ConfigVersion.files).where(
        ConfigVersion.version < version.version).order_by(ConfigVersion.version.desc()).limit(1))
    return changes(contents(before or []), contents(version.files))


@dataclass
class LiveState:
    """The live version, the folder, and whether the folder holds what the version recorded."""

    version: ConfigVersion | None
    folder: Path | None
    drift: list[str] = field(default_factory=list)


def live_state(session: Session, folder: Path | None) -> LiveState:
    live = latest(session)
    recorded = contents(live.files) if live is not None else {}
    on_disk = disk_files(folder)
    drift = sorted(n for n in recorded.keys() | on_disk.keys()
                   if recorded.get(n) != on_disk.get(n))
    return LiveState(live, folder, drift)


@dataclass
class ProposalPage:
    proposal: ConfigProposal
    changes: list[FileChange]
    can_approve: bool
    can_reject: bool


def proposal_page(session: Session, actor: User, proposal_id: int, folder: Path | None
                  ) -> ProposalPage:
    proposal = get_proposal_for(session, actor, proposal_id)
    pending = proposal.status == "pending"
    may = allowed(actor, "config", "approve") and pending
    return ProposalPage(proposal, proposal_changes(session, proposal, folder),
                        may and proposal.proposed_by_id != actor.id, may)


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(sa.select(User.id, User.username).where(User.id.in_(wanted)))
    return {int(uid): str(name) for uid, name in rows}
