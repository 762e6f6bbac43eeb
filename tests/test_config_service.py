"""Two-person change of the county's configuration on SQLite and PostgreSQL: propose, check again
on approval, put live as a version (on the ledger), reject, roll back; who may propose what."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import COUNTY, build_county

from ctown import configdir
from ctown.accounts.models import User
from ctown.accounts.service import create_user
from ctown.catalogue.models import CatalogueVersion
from ctown.config import service
from ctown.config.models import ConfigProposal, ConfigVersion
from ctown.crypto import FieldCipher
from ctown.errors import Conflict, Forbidden, Invalid
from ctown.ledger import integrity, tasks
from ctown.lending.products import get_product
from ctown.privacy.models import AuditEvent
from ctown.settings import get_settings

CREDIT = "products/rcb_credit.yaml"


@dataclass
class World:
    folder: Path
    users: dict[str, User]

    def __getitem__(self, name: str) -> User:
        return self.users[name]


@pytest.fixture
def world(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    users = dict(build_county(session, FieldCipher.load(tmp_path / "k.json")).users)
    for name, role, bank in (("admin2", "county_admin", None), ("rcb", "bank_officer", "RCB"),
                             ("abc", "bank_officer", "ABC")):
        users[name] = create_user(session, username=name, password=None, role=role,
                                  region_code=COUNTY, bank_code=bank)
    folder = tmp_path / "config"
    configdir.configure(folder)
    yield World(folder, users)
    configdir.reset()


def packaged(name: str) -> str:
    return configdir.defaults()[name].read_text(encoding="utf-8")


def product(rate: str, version: int = 2, bank: str = "RCB") -> dict[str, bytes]:
    text = packaged(CREDIT).replace("version: 1\n", f"version: {version}\n").replace(
        'base_rate_pct: "4.35"', f'base_rate_pct: "{rate}"').replace(
        "bank_code: RCB", f"bank_code: {bank}")
    return {CREDIT: text.encode()}


def on_disk(folder: Path) -> dict[str, bytes]:
    return {n: p.read_bytes() for n, p in configdir.folder_files(folder).items()}


def test_proposed_by_one_approved_by_another_then_live(session: Session, world: World) -> None:
    files = product("4.20")
    proposal = service.propose(session, world["rcb"], files, "cheaper", folder=world.folder)
    assert (proposal.status, proposal.bank_code, proposal.base_version) == ("pending", "RCB", 0)
    assert on_disk(world.folder) == {}  # nothing live before the second person
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.35")  # type: ignore[union-attr]
    with pytest.raises(Forbidden):  # a bank does not approve
        service.approve(session, world["rcb"], proposal.id, folder=world.folder)
    version = service.approve(session, world["admin"], proposal.id, folder=world.folder)
    assert (version.version, version.proposed_by_id, version.approved_by_id) == (
        1, world["rcb"].id, world["admin"].id)
    assert version.files == [{"name": CREDIT, "sha256": configdir.sha256(files[CREDIT]),
                              "content": files[CREDIT].decode()}]
    assert (proposal.status, proposal.version) == ("approved", 1)
    assert on_disk(world.folder) == files
    assert configdir.marker(world.folder)["version"] == 1  # type: ignore[index]
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.20")  # type: ignore[union-attr]
    # The packaged catalogue it was approved with is registered for the values tagged with it.
    assert session.get(CatalogueVersion, 1) is not None
    actions = session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.like("config.%")).order_by(AuditEvent.id)).all()
    assert actions == ["config.propose", "config.approve"]
    assert service.live_state(session, world.folder).drift == []


def test_the_proposer_cannot_approve_their_own(session: Session, world: World) -> None:
    proposal = service.propose(session, world["admin"], product("4.20"), "", folder=world.folder)
    with pytest.raises(Forbidden, match="提议人不能批准"):
        service.approve(session, world["admin"], proposal.id, folder=world.folder)
    assert service.approve(session, world["admin2"], proposal.id,
                           folder=world.folder).version == 1
    with pytest.raises(Conflict):  # decided once
        service.approve(session, world["admin2"], proposal.id, folder=world.folder)


def test_a_bank_proposes_only_its_own_products(session: Session, world: World) -> None:
    with pytest.raises(Forbidden):  # another bank's product
        service.propose(session, world["abc"], product("4.20"), "", folder=world.folder)
    with pytest.raises(Forbidden):  # taking another bank's product over by renaming its bank
        service.propose(session, world["abc"], product("4.20", bank="ABC"), "",
                        folder=world.folder)
    catalogue = packaged("catalogue.yaml").replace("version: 1\n", "version: 2\n").encode()
    with pytest.raises(Forbidden):  # the county's files
        service.propose(session, world["rcb"], {"catalogue.yaml": catalogue}, "",
                        folder=world.folder)
    new = packaged(CREDIT).replace("code: rcb_credit", "code: abc_credit").replace(
        "bank_code: RCB", "bank_code: ABC").encode()
    made = service.propose(session, world["abc"], {"products/abc_credit.yaml": new}, "",
                           folder=world.folder)
    assert made.bank_code == "ABC"
    # Each bank sees its own proposals; the county sees all.
    mine = service.propose(session, world["rcb"], product("4.10"), "", folder=world.folder)
    assert [p.id for p in service.proposals_for(session, world["abc"])] == [made.id]
    assert [p.id for p in service.proposals_for(session, world["rcb"])] == [mine.id]
    assert {p.id for p in service.proposals_for(session, world["admin"])} == {made.id, mine.id}
    with pytest.raises(Forbidden):  # a village officer has no part in it
        service.propose(session, world["village"], product("4.00"), "", folder=world.folder)


def test_a_broken_proposal_is_refused_with_its_lines(session: Session, world: World) -> None:
    text = product("lots")[CREDIT].decode()
    with pytest.raises(service.ConfigInvalid) as refused:
        service.propose(session, world["rcb"], {CREDIT: text.encode()}, "", folder=world.folder)
    n = next(i for i, t in enumerate(text.splitlines(), 1) if 'base_rate_pct: "lots"' in t)
    assert refused.value.lines() == [
        f"{CREDIT}:{n}: base_rate_pct: 取值无效：Input should be a valid decimal / invalid "
        "value: Input should be a valid decimal"]
    assert session.scalar(sa.select(sa.func.count()).select_from(ConfigProposal)) == 0
    with pytest.raises(Invalid):  # what is live already: nothing to propose
        service.propose(session, world["rcb"], {CREDIT: packaged(CREDIT).encode()}, "",
                        folder=world.folder)


def test_checked_again_on_approval(session: Session, world: World) -> None:
    """Two proposals of the same product under the same new version: the first approved makes
    the second's content a second meaning of version 2, refused when it comes to approval."""
    first = service.propose(session, world["rcb"], product("4.20"), "", folder=world.folder)
    second = service.propose(session, world["rcb"], product("4.10"), "", folder=world.folder)
    service.approve(session, world["admin"], first.id, folder=world.folder)
    with pytest.raises(service.ConfigInvalid) as refused:
        service.approve(session, world["admin"], second.id, folder=world.folder)
    text = product("4.10")[CREDIT].decode()
    n = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("version:"))
    assert refused.value.lines() == [
        f"{CREDIT}:{n}: version: 版本 2 已用于不同的内容：修改后请提高版本号 / version 2 was used "
        "for another content: raise the version number after a change"]
    assert second.status == "pending" and on_disk(world.folder) == product("4.20")


def test_a_catalogue_version_recorded_with_other_content_is_refused(session: Session,
                                                                     world: World) -> None:
    session.add(CatalogueVersion(version=5, sha256="0" * 64, indicator_count=1))
    session.flush()
    text = packaged("catalogue.yaml").replace("version: 1\n", "version: 5\n")
    with pytest.raises(service.ConfigInvalid) as refused:
        service.propose(session, world["admin"], {"catalogue.yaml": text.encode()}, "",
                        folder=world.folder)
    n = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("version:"))
    assert refused.value.lines() == [
        f"catalogue.yaml:{n}: version: 目录版本 5 已以不同内容登记过：修改目录后请提高版本号 / "
        "catalogue version 5 was already registered with different content: raise the version "
        "number after changing the catalogue"]


def test_reject_with_a_reason(session: Session, world: World) -> None:
    proposal = service.propose(session, world["rcb"], product("4.20"), "", folder=world.folder)
    with pytest.raises(Invalid):
        service.reject(session, world["admin"], proposal.id, "  ")
    with pytest.raises(Forbidden):
        service.reject(session, world["rcb"], proposal.id, "no")
    service.reject(session, world["admin"], proposal.id, "利率须经定价委员会")
    assert (proposal.status, proposal.reason, proposal.decided_by_id) == (
        "rejected", "利率须经定价委员会", world["admin"].id)
    with pytest.raises(Conflict):
        service.approve(session, world["admin2"], proposal.id, folder=world.folder)


def test_rollback_is_a_proposal_of_an_earlier_version(session: Session, world: World) -> None:
    for rate, version in (("4.20", 2), ("4.10", 3)):
        made = service.propose(session, world["rcb"], product(rate, version), "",
                               folder=world.folder)
        service.approve(session, world["admin"], made.id, folder=world.folder)
    grades = packaged("grades.yaml").replace("version: 1\n", "version: 2\n").replace(
        "model_weight: 0.5", "model_weight: 0.4").encode()
    made = service.propose(session, world["admin"], {"grades.yaml": grades}, "",
                           folder=world.folder)
    service.approve(session, world["admin2"], made.id, folder=world.folder)
    assert set(on_disk(world.folder)) == {CREDIT, "grades.yaml"}
    back = service.propose_rollback(session, world["admin"], 1, "back to 4.20",
                                    folder=world.folder)
    assert (back.kind, back.rollback_of, back.status) == ("rollback", 1, "pending")
    assert [c.name for c in service.proposal_changes(session, back, world.folder)] == [
        "grades.yaml", CREDIT]
    with pytest.raises(Forbidden):  # two people for a rollback too
        service.approve(session, world["admin"], back.id, folder=world.folder)
    version = service.approve(session, world["admin2"], back.id, folder=world.folder)
    assert (version.version, version.rollback_of) == (4, 1)
    assert on_disk(world.folder) == product("4.20")  # the grade table is the packaged one again
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.20")  # type: ignore[union-attr]
    with pytest.raises(Invalid):  # version 1 is what is live now
        service.propose_rollback(session, world["admin"], 1, "", folder=world.folder)
    with pytest.raises(Forbidden):  # a bank does not roll the county back
        service.propose_rollback(session, world["rcb"], 0, "", folder=world.folder)
    empty = service.propose_rollback(session, world["admin"], 0, "defaults",
                                     folder=world.folder)
    service.approve(session, world["admin2"], empty.id, folder=world.folder)
    assert on_disk(world.folder) == {}
    versions = service.versions_for(session, world["admin"])
    assert [v.version for v in versions] == [5, 4, 3, 2, 1]
    assert [c.name for c in service.version_changes(session, versions[0])] == [CREDIT]


def test_no_folder_nothing_goes_live(session: Session, world: World) -> None:
    proposal = service.propose(session, world["rcb"], product("4.20"), "", folder=None)
    with pytest.raises(Invalid, match="CTOWN_CONFIG_DIR"):
        service.approve(session, world["admin"], proposal.id, folder=None)


def test_each_live_version_is_on_the_ledger(session: Session, world: World,
                                            tmp_path: Path) -> None:
    made = service.propose(session, world["rcb"], product("4.20"), "", folder=world.folder)
    version = service.approve(session, world["admin"], made.id, folder=world.folder)
    settings = get_settings(var_dir=tmp_path)
    assert tasks.append_all(session, settings) >= 1
    assert integrity.verify_log(session).ok
    session.execute(sa.update(ConfigVersion).where(ConfigVersion.id == version.id)
                    .values(note="edited behind the platform's back"))
    report = integrity.verify_log(session)
    assert ("altered", version.id) in {(p.problem, p.ref) for p in report.problems}


def test_drift_is_seen_and_sync_writes_the_live_version_again(session: Session,
                                                              world: World) -> None:
    made = service.propose(session, world["rcb"], product("4.20"), "", folder=world.folder)
    service.approve(session, world["admin"], made.id, folder=world.folder)
    (world.folder / CREDIT).write_text("edited by hand\n", encoding="utf-8")
    (world.folder / "grades.yaml").write_text("version: 9\n", encoding="utf-8")
    assert service.live_state(session, world.folder).drift == ["grades.yaml", CREDIT]
    assert service.sync(session, None, world.folder) == 1
    assert on_disk(world.folder) == product("4.20")


def test_the_demo_has_one_live_version_and_one_pending_proposal(session: Session, world: World,
                                                                tmp_path: Path) -> None:
    from ctown.capabilities import DemoContext
    from ctown.config import demo
    from ctown.settings import Settings

    settings = Settings(var_dir=tmp_path / "var", config_dir=world.folder)
    ctx = DemoContext.of(settings, tmp_path, [world["admin"], world["rcb"]])
    for _twice in range(2):  # idempotent
        demo.build(session, ctx)
    versions = service.versions_for(session, None)
    pending = service.proposals_for(session, None, "pending")
    assert [(v.version, v.proposed_by_id, v.approved_by_id) for v in versions] == [
        (1, world["rcb"].id, world["admin"].id)]
    assert [(p.proposed_by_id, p.bank_code, [f["name"] for f in p.files]) for p in pending] == [
        (world["rcb"].id, "RCB", ["products/rcb_insured.yaml"])]
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.20")  # type: ignore[union-attr]
    (world.folder / CREDIT).unlink()  # a demo folder lost: built again from the version
    demo.build(session, ctx)
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.20")  # type: ignore[union-attr]
