"""The notice outbox on both databases: written with its cause, delivered after commit exactly
once (two senders, a rerun), retried with backoff, backends chosen from the settings for the app
and the CLI; negative records go live only once their SMS was delivered; the data migration."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.factories import County, build_county
from typer.testing import CliRunner

from ctown.app import create_app
from ctown.db import make_engine, session_factory
from ctown.notify import service, tasks
from ctown.notify.channels import ConsoleBackend, MemoryBackend, NullBackend, Outgoing, RetryPolicy
from ctown.notify.models import Notification
from ctown.notify.setup import notifier_from_settings, start
from ctown.notify.status import counts
from ctown.settings import Settings

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


class Flaky:
    """Fails the first ``failures`` sends, then delivers into ``memory``."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.memory = MemoryBackend()

    def send(self, notice: Outgoing) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("gateway 13800000000 unreachable")  # never stored or logged
        self.memory.send(notice)


class Slow(MemoryBackend):
    """A backend that takes a little time, so that two senders overlap."""

    def send(self, notice: Outgoing) -> None:
        time.sleep(0.002)
        super().send(notice)


def _queue(session: Session, n: int = 1, channel: str = "sms") -> None:
    for i in range(n):
        service.queue(session, channel=channel, source="test", msgid="测试通知 {no}",
                      params={"no": i})


@pytest.fixture
def migrated(db_factory) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A database of its own (the sender commits in its own transactions)."""
    engine = make_engine(db_factory.migrated_url())
    yield engine
    tasks.uninstall(engine)
    engine.dispose()


def _sent(engine: Engine) -> list[Notification]:
    with session_factory(engine)() as session:
        return list(session.scalars(sa.select(Notification).order_by(Notification.id)))


# -- after commit, never for a rollback ---------------------------------------------------------

class Boom(Exception):
    pass


def test_queued_in_the_transaction_sent_after_commit_nothing_for_a_rollback(migrated) -> None:  # type: ignore[no-untyped-def]
    memory = MemoryBackend()
    start(migrated, notifier_from_settings(Settings(), sms=memory))
    factory = session_factory(migrated)
    with pytest.raises(Boom), factory.begin() as session:
        _queue(session, 3)
        session.flush()
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 3
        raise Boom()
    tasks.wait_sent(migrated)
    assert memory.sent == [] and _sent(migrated) == []

    with factory.begin() as session:
        _queue(session, 2)
        # Not before the commit: the sender reads committed rows only.
        assert memory.sent == []
    tasks.wait_sent(migrated)
    rows = _sent(migrated)
    assert [i for i, _c, _t in memory.sent] == [n.id for n in rows]
    assert all(n.sent_at is not None and n.attempts == 1 for n in rows)
    assert memory.sent[1][2] == "测试通知 1"
    with factory.begin() as session:
        assert tasks.deliver_pending(session) == 0  # the installed notifier: nothing left
    assert len(memory.sent) == 2


def test_unknown_channel_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="pigeon"):
        _queue(session, channel="pigeon")


# -- exactly once -------------------------------------------------------------------------------

def test_two_senders_and_a_rerun_deliver_each_notice_once(migrated) -> None:  # type: ignore[no-untyped-def]
    factory = session_factory(migrated)
    with factory.begin() as session:  # no sender installed: the rows wait
        _queue(session, 60)
    memory = Slow()
    notifier = notifier_from_settings(Settings(), sms=memory)
    ready = threading.Barrier(2)
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            ready.wait()
            with tasks.sqlite_writer(migrated), factory() as s, s.begin():
                tasks.deliver(s, notifier, limit=7)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    ids = [i for i, _c, _t in memory.sent]
    assert sorted(ids) == [n.id for n in _sent(migrated)] and len(set(ids)) == 60
    with factory.begin() as session:
        assert tasks.deliver_pending(session, notifier) == 0
    assert len(memory.sent) == 60


def test_the_app_sender_and_the_cli_rerun_do_not_send_twice(migrated) -> None:  # type: ignore[no-untyped-def]
    memory = Slow()
    notifier = notifier_from_settings(Settings(), sms=memory)
    start(migrated, notifier)
    factory = session_factory(migrated)
    with factory.begin() as session:
        _queue(session, 40)
    # `ctown notify send` while the sender is at work.
    with tasks.sqlite_writer(migrated), factory.begin() as session:
        tasks.deliver(session, notifier)
    tasks.wait_sent(migrated)
    ids = [i for i, _c, _t in memory.sent]
    assert len(ids) == len(set(ids)) == 40


# -- retries --------------------------------------------------------------------------------------

def test_a_failed_send_is_retried_with_backoff(session: Session, caplog) -> None:  # type: ignore[no-untyped-def]
    flaky = Flaky(failures=2)
    notifier = notifier_from_settings(Settings(), sms=flaky)
    _queue(session)
    with caplog.at_level(logging.WARNING, logger="ctown.notify"):
        first = tasks.deliver(session, notifier, now=T0)
    assert (first.sent, first.failed) == (0, 1)
    assert first.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert "ConnectionError" in caplog.text and "13800000000" not in caplog.text
    row = session.scalars(sa.select(Notification)).one()
    session.refresh(row)
    assert (row.attempts, row.sent_at, row.last_error) == (1, None, "ConnectionError")

    early = tasks.deliver(session, notifier, now=T0 + dt.timedelta(seconds=10))
    assert (early.sent, early.failed) == (0, 0) and flaky.calls == 1  # not due yet
    second = tasks.deliver(session, notifier, now=T0 + dt.timedelta(seconds=31))
    assert second.failed == 1
    assert second.next_attempt_at == T0 + dt.timedelta(seconds=31 + 60)  # doubled
    third = tasks.deliver(session, notifier, now=T0 + dt.timedelta(seconds=92))
    assert third.sent == 1 and third.next_attempt_at is None
    session.refresh(row)
    assert (row.attempts, row.last_error, row.sent_at) == (3, None,
                                                           T0 + dt.timedelta(seconds=92))
    assert len(flaky.memory.sent) == 1
    assert tasks.deliver(session, notifier, now=T0 + dt.timedelta(days=1)).sent == 0


def test_given_up_after_the_last_attempt_and_tried_again_on_request(session: Session) -> None:
    before = counts(session)
    notifier = notifier_from_settings(Settings(), sms=Flaky(failures=99))
    notifier.policy = RetryPolicy(max_attempts=2)
    _queue(session)
    tasks.deliver(session, notifier, now=T0)
    last = tasks.deliver(session, notifier, now=T0 + dt.timedelta(minutes=1))
    assert (last.failed, last.gave_up, last.next_attempt_at) == (1, 1, None)
    after = counts(session)
    assert after["notify.failed"] == before["notify.failed"] + 1
    assert after["notify.waiting"] == before["notify.waiting"]
    assert tasks.deliver(session, notifier, now=T0 + dt.timedelta(days=1)).failed == 0

    assert tasks.retry_failed(session) == 1
    memory = MemoryBackend()
    assert tasks.deliver_pending(session, notifier_from_settings(Settings(), sms=memory)) == 1
    assert counts(session)["notify.sent"] == before["notify.sent"] + 1 and len(memory.sent) == 1


def test_the_sender_retries_by_itself(migrated) -> None:  # type: ignore[no-untyped-def]
    flaky = Flaky(failures=1)
    notifier = notifier_from_settings(Settings(), sms=flaky)
    notifier.policy = RetryPolicy(first=dt.timedelta(milliseconds=100))
    start(migrated, notifier)
    with session_factory(migrated).begin() as session:
        _queue(session)
    # Wait for the sender's own commit, not only for the backend's call: under load the
    # assertion used to read the row between the two (attempts still 1).
    deadline = time.monotonic() + 30
    while _sent(migrated)[0].attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flaky.calls == 2 and len(flaky.memory.sent) == 1
    assert _sent(migrated)[0].attempts == 2


# -- backends from the settings -------------------------------------------------------------------

def test_the_app_chooses_its_backends_from_its_settings(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    app = create_app(Settings(database_url=url, var_dir=tmp_path, sms_backend="memory",
                              voice_backend="null"))
    with TestClient(app):
        notifier = app.state.notifier
        assert isinstance(notifier.backend("sms"), MemoryBackend)
        assert isinstance(notifier.backend("voice"), NullBackend)
        assert isinstance(notifier.backend("webhook"), ConsoleBackend)
        with app.state.session_factory.begin() as session:
            _queue(session, 2)
        tasks.wait_sent(app.state.engine)
        assert [t for _i, _c, t in notifier.backend("sms").sent] == ["测试通知 0", "测试通知 1"]
    assert tasks.sender_for(app.state.engine) is None  # stopped with the app
    other = create_app(Settings(database_url=url, var_dir=tmp_path, sms_backend="null"))
    assert isinstance(other.state.notifier.backend("sms"), NullBackend)
    tasks.uninstall(other.state.engine)
    other.state.engine.dispose()


def test_the_cli_chooses_its_backends_when_it_starts(db_factory, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    from ctown.cli import app as root

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:  # e.g. left by a crash
        _queue(session, 2)
    env = {"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    with caplog.at_level(logging.INFO, logger="ctown.notify"):
        out = runner.invoke(root, ["notify", "send"], env={**env, "CTOWN_SMS_BACKEND": "null"})
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["sent"] == 2 and result["backends"]["sms"] == "null"
    assert "测试通知" not in caplog.text  # the null backend drops

    with session_factory(engine).begin() as session:
        _queue(session, 1)
    with caplog.at_level(logging.INFO, logger="ctown.notify"):
        out = runner.invoke(root, ["lending", "send-notices"],
                            env={**env, "CTOWN_SMS_BACKEND": "console"})
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"sent": 1}  # the old command, its old answer
    assert "测试通知 0" in caplog.text
    engine.dispose()


# -- privacy: a negative record goes live only after its SMS went out -----------------------------

NEGATIVE = "I0703"  # 失信被执行人 (public, negative)


@pytest.fixture
def county(session: Session, tmp_path: Path) -> County:
    from ctown.crypto import FieldCipher
    from ctown.privacy import service as privacy
    from ctown.registry.models import Subject

    county = build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=2)
    county.users["bank"].bank_code = "RCB001"
    for hh in session.scalars(sa.select(Subject.id).where(Subject.kind == "household")):
        privacy.grant_collection_consent(session, None, subject_id=hh,
                                         signed_on=dt.date(2026, 1, 5))
    session.flush()
    return county


def _negatives_in_report(session: Session, county: County, household: int) -> bool:
    from ctown.report import service as report

    _a, body = report.credit_report(session, county.users["bank"], household, "loan_application")
    assert body is not None
    return NEGATIVE in {i["code"] for i in body["indicators"]}


def test_an_undelivered_negative_notice_keeps_the_record_out_of_bank_reports(
        session: Session, county: County) -> None:
    from ctown.ingest.service import record_values
    from ctown.privacy import service as privacy
    from ctown.privacy import tasks as privacy_tasks
    from ctown.privacy.models import NegativeNotice

    household = county.users["farmer"].subject_id
    assert household is not None
    record_values(session, actor=None, department="court", source="test",
                  values=[(household, NEGATIVE, True, dt.date(2026, 5, 1))])
    privacy.grant_consent(session, county.users["farmer"], subject_id=household,
                          bank_code="RCB001", purpose="loan_application")
    assert privacy_tasks.notify_negatives(session) >= 1
    assert privacy_tasks.notify_negatives(session) == 0  # queued once
    notice = session.scalars(sa.select(NegativeNotice).where(
        NegativeNotice.subject_id == household, NegativeNotice.indicator_code == NEGATIVE)).one()
    sms = session.scalars(sa.select(Notification).where(
        Notification.ref_kind == "negative_notice", Notification.ref_id == notice.id)).one()
    assert (sms.channel, sms.subject_id, sms.source) == ("sms", household, "privacy")
    assert notice.notified_at is None and not _negatives_in_report(session, county, household)

    failing = notifier_from_settings(Settings(), sms=Flaky(failures=99))
    assert tasks.deliver(session, failing, now=T0).failed >= 1
    session.refresh(notice)
    assert notice.notified_at is None
    assert not _negatives_in_report(session, county, household)  # the farmer was not told

    memory = MemoryBackend()
    tasks.deliver(session, notifier_from_settings(Settings(), sms=memory),
                  now=T0 + dt.timedelta(hours=1))
    assert any(i == sms.id and "失信" in text for i, _c, text in memory.sent)
    session.refresh(notice)
    assert notice.notified_at is not None
    assert _negatives_in_report(session, county, household)


# -- the migration keeps lending's notices ---------------------------------------------------------

def test_migration_moves_lending_notices_into_the_outbox(db_factory) -> None:  # type: ignore[no-untyped-def]
    from ctown.migrate import alembic_config, upgrade

    engine = make_engine(db_factory.url())
    upgrade(engine, "0011_access")
    sent = dt.datetime(2026, 5, 2, 1, 0)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO lending_notices (id, channel, msgid, params, created_at, sent_at) VALUES "
            "(7, 'sms', '您的贷款申请 {no}', '{\"no\": \"7\"}', :t, :t), "
            "(8, 'in_app', '贷款申请 {no} 等待您审批', '{\"no\": \"7\"}', :t, NULL)"),
            {"t": sent})
        conn.execute(sa.text(
            "INSERT INTO privacy_negative_notices (subject_id, indicator_code, observed_on, "
            "created_at, notified_at) VALUES (1, 'I0703', '2026-05-01', :t, :t)"), {"t": sent})
    upgrade(engine)
    with session_factory(engine)() as session:
        rows = session.scalars(sa.select(Notification).order_by(Notification.id)).all()
        assert [(n.id, n.channel, n.source, n.params, n.attempts, n.sent_at is None)
                for n in rows] == [(7, "sms", "lending", {"no": "7"}, 1, False),
                                   (8, "in_app", "lending", {"no": "7"}, 0, True)]
        assert session.scalar(sa.text("SELECT notified_at FROM privacy_negative_notices")) is None
        _queue(session)
        session.flush()
        assert session.scalar(sa.select(sa.func.max(Notification.id))) == 9
        session.rollback()
    with engine.begin() as conn:
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011_access")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, sent_at IS NULL FROM lending_notices ORDER BY id")
                            ).all() == [(7, False), (8, True)]
    engine.dispose()
