"""Notices are written with the change and sent only after it commits (transactional outbox)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ctown.accounts.models import User
from ctown.db import make_engine, session_factory
from ctown.errors import Forbidden
from ctown.lending import notices, sample, service
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.lending.models import Notice
from ctown.notify.setup import notifier_from_settings, start
from ctown.notify.tasks import uninstall
from ctown.settings import Settings


@pytest.fixture
def backend() -> notices.MemoryBackend:
    """One memory backend for the in-app and SMS channels, handed to the engine's sender."""
    return notices.MemoryBackend()


def start_sender(engine: Engine, memory: notices.MemoryBackend) -> None:
    start(engine, notifier_from_settings(Settings(sms_backend="memory"), in_app=memory,
                                         sms=memory))


class Boom(Exception):
    pass


def test_rolled_back_changes_send_nothing_committed_ones_are_sent(db_factory, backend) -> None:
    engine = make_engine(db_factory.migrated_url())
    start_sender(engine, backend)
    factory = session_factory(engine)
    with factory.begin() as session:
        county = sample.build(session)
        farmer_id = county.users["farmer"].id
        village_id = county.users["village"].id
        hid = county.households[sample.VILLAGE][0]
    req = Request(Decimal("30000"), 12, "interest_first")

    with pytest.raises(Boom), factory.begin() as session:
        farmer = session.get(User, farmer_id)
        service.apply(session, farmer, subject_id=hid, product_code="rcb_credit", req=req)
        session.flush()
        assert session.scalar(sa.select(sa.func.count()).select_from(Notice)) > 0
        raise Boom()
    notices.wait_sent(engine)
    assert backend.sent == []
    with factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0

    with factory.begin() as session:
        farmer = session.get(User, farmer_id)
        app, _d = service.apply(session, farmer, subject_id=hid, product_code="rcb_credit",
                                req=req)
        app_id = app.id
    notices.wait_sent(engine)
    with factory() as session:
        rows = session.scalars(sa.select(Notice).order_by(Notice.id)).all()
        assert rows and all(n.sent_at is not None for n in rows)
        assert sorted(i for i, _c, _t in backend.sent) == [n.id for n in rows]
        assert any(str(app_id) in text for _i, _c, text in backend.sent)

    # A refused step in its own transaction rolls back: nothing more is sent.
    sent_before = len(backend.sent)
    with pytest.raises(Forbidden, match="不能跳过审批步骤"), factory.begin() as session:
        bank = session.get(User, county.users["bank"].id)
        service.act(session, bank, app_id, Action.bank_approve)
    with factory.begin() as session:
        officer = session.get(User, village_id)
        service.act(session, officer, app_id, Action.village_approve)
    notices.wait_sent(engine)
    assert len(backend.sent) > sent_before
    with factory() as session:
        assert notices.deliver_pending(session) == 0
    uninstall(engine)
    engine.dispose()
