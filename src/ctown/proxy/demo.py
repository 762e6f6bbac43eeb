"""Demo: the demo proxy holds two mandates of the demo farmer's household, recorded by the
village officer — one confirmed on paper (query and apply), one awaiting the farmer's code
(consent) — and has acted under the first: opened the household's page and credit file, filed a
loan application. The farmer's page (/proxy) shows both mandates and every act."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.models import ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.errors import DomainError
from ctown.proxy import service

PAPER_REF = "DEMO-SQ-0001"


def build(session: Session, ctx: DemoContext) -> None:
    officer, proxy = ctx.user(session, Role.village_officer), ctx.user(session, Role.credit_proxy)
    farmer = ctx.user(session, Role.farmer)
    if officer is None or proxy is None or farmer is None or farmer.subject_id is None:
        return
    if session.scalar(sa.select(ProxyMandate.id).where(
            ProxyMandate.proxy_id == proxy.id, ProxyMandate.recorded_by_id.is_not(None))):
        return  # built before: idempotent
    today = rules.today()
    household = farmer.subject_id
    first = service.record(session, officer, household_id=household, proxy_id=proxy.id,
                           scopes=("query", "apply"), until=service.latest_end(today))
    service.confirm_paper(session, officer, first.id, PAPER_REF)
    second = service.record(session, officer, household_id=household, proxy_id=proxy.id,
                            scopes=("consent",), until=today + dt.timedelta(days=90))
    # The console backend writes the SMS, code included, to the log: the demo's phone. Without a
    # phone on file for the head the mandate waits for the paper form instead.
    with suppress(DomainError):
        service.send_code(session, officer, ctx.cipher, second.id)
    _act(session, ctx, proxy, household)


def _act(session: Session, ctx: DemoContext, proxy: User, household: int) -> None:
    """What the proxy did under the confirmed mandate (each act is kept where it happens)."""
    from ctown.ingest.creditfile import credit_file
    from ctown.lending import service as lending
    from ctown.lending.decision import Request
    from ctown.registry.queries import subject_detail

    subject_detail(session, proxy, ctx.cipher, household)
    credit_file(session, proxy, household)
    with suppress(DomainError):  # e.g. the head is past the products' age: the looks remain
        lending.apply(session, proxy, subject_id=household, product_code="rcb_credit",
                      req=Request(Decimal("30000"), 12, "interest_first"), purpose="购买春耕农资")
