"""The proxy demo (one mandate confirmed, one awaiting the farmer's code, the proxy's acts on the
farmer's page; idempotent) and ``ctown proxy list / revoke``, both databases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county
from typer.testing import CliRunner

from ctown.access import rules
from ctown.accounts.models import ProxyMandate
from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.notify.models import Notification
from ctown.proxy import acts, demo, service, status
from ctown.proxy.service import State
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord
from ctown.settings import get_settings


def test_the_demo_shows_both_mandates_and_the_acts(session: Session, tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=2)
    farmer, proxy = county.users["farmer"], county.users["proxy"]
    home = farmer.subject_id
    assert home is not None
    session.execute(sa.update(Subject).where(Subject.household_id == home)
                    .values(birth_date=dt.date(1980, 5, 1)))
    session.add(GradeRecord(subject_id=home, score=700, grade="A1", pd=0.01, reasons=[],
                            model_version="test", scored_at=rules.end_of_day(rules.today()),
                            is_current=True))
    ctx = DemoContext.of(settings, tmp_path / "work", county.users.values())
    for _ in range(2):
        demo.build(session, ctx)
    rows = service.own_mandates(session, farmer)
    assert sorted((r.state, tuple(r.scopes)) for r in rows) == [
        (State.awaiting, ("consent",)), (State.in_force, ("query", "apply"))]
    assert {r.mandate.proxy_id for r in rows} == {proxy.id}
    waiting = next(r.mandate for r in rows if r.state is State.awaiting)
    assert waiting.code_sends == 1 and session.scalar(sa.select(sa.func.count()).select_from(
        Notification).where(Notification.ref_id == waiting.id)) == 1
    kinds = [a.kind for a in acts.acts_on_household(session, farmer)]
    assert {"recorded", "confirmed", "look", "applied"} <= set(kinds)
    assert kinds.count("look") == 2 and kinds.count("recorded") == 2  # built once
    assert status.counts(session) == {"proxy.mandates": 2, "proxy.in_force": 1,
                                      "proxy.awaiting": 1}


def test_the_county_lists_and_revokes_from_the_command_line(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ctown.cli import app as root

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=1)
        m = service.record(session, county.users["village"],
                           household_id=county.users["farmer"].subject_id or 0,
                           proxy_id=county.users["proxy"].id, scopes=["query"],
                           until=rules.today() + dt.timedelta(days=3))
        mandate_id = m.id
    env = {"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path), "CTOWN_SMS_BACKEND": "null"}
    runner = CliRunner()
    out = runner.invoke(root, ["proxy", "list"], env=env)
    assert out.exit_code == 0, out.output
    [row] = [json.loads(line) for line in out.output.splitlines()]
    assert (row["id"], row["state"], row["scopes"]) == (mandate_id, "awaiting", ["query"])
    assert runner.invoke(root, ["proxy", "list", "--state", "nonsense"], env=env).exit_code == 2
    refused = runner.invoke(root, ["proxy", "revoke", str(mandate_id), "--reason", " "], env=env)
    assert refused.exit_code == 2 and "原因" in refused.output
    done = runner.invoke(root, ["proxy", "revoke", str(mandate_id), "--reason", "户主去世"],
                         env=env)
    assert done.exit_code == 0, done.output
    again = runner.invoke(root, ["proxy", "revoke", str(mandate_id), "--reason", "x"], env=env)
    assert again.exit_code == 2
    assert runner.invoke(root, ["proxy", "revoke", "999999", "--reason", "x"],
                         env=env).exit_code == 2
    out = runner.invoke(root, ["proxy", "list", "--state", "revoked"], env=env)
    assert [json.loads(line)["id"] for line in out.output.splitlines()] == [mandate_id]
    with session_factory(engine)() as session:
        revoked = session.get(ProxyMandate, mandate_id)
        assert revoked is not None and revoked.revoke_reason == "户主去世"
        assert revoked.revoked_by_id is None  # the county, from the server
    engine.dispose()
