"""Demo: a few items of feedback in the demo county — the farmer's from the page (answered in
time), a complaint by SMS, one the village officer wrote down, one the proxy passed on — and one
left unanswered for three days, escalated to the township by the job. The officers' queue
(/feedback/queue) shows the overdue flag and the on-time rate; the proxy's home (/proxy/acting)
shows its households with their open items."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.db import utcnow
from ctown.errors import DomainError
from ctown.feedback import service
from ctown.feedback.models import Feedback


def build(session: Session, ctx: DemoContext) -> None:
    farmer, officer = ctx.user(session, Role.farmer), ctx.user(session, Role.village_officer)
    proxy = ctx.user(session, Role.credit_proxy)
    if farmer is None or officer is None or farmer.subject_id is None:
        return
    if session.scalar(sa.select(Feedback.id).limit(1)) is not None:
        return  # built before: idempotent
    now, home, cipher = utcnow(), farmer.subject_id, ctx.cipher
    answered = service.submit(session, farmer, subject_id=None, channel="page",
                              text="村里的信用服务点周末能不能开门？平时要下地。",
                              cipher=cipher, now=now - dt.timedelta(hours=30))
    service.answer(session, officer, answered.id, "从下个月起每周六上午开放，欢迎来办理。",
                   cipher=cipher, now=now - dt.timedelta(hours=20))
    service.submit(session, None, subject_id=home, channel="sms", kind="complaint",
                   text="去乡里办贷款跑了三趟还没办好", cipher=cipher, now=now - dt.timedelta(hours=5))
    service.submit(session, officer, subject_id=home, channel="officer",
                   text="农户反映贷款到账后短信没收到", cipher=cipher,
                   now=now - dt.timedelta(hours=2))
    # Three days without an answer: past its 48 hours, the job moves it to the township.
    service.submit(session, farmer, subject_id=None, channel="page",
                   text="信用等级评定结果什么时候公示？", cipher=cipher,
                   now=now - dt.timedelta(hours=72))
    if proxy is not None:
        with suppress(DomainError):  # no mandate in force in this demo: nothing to pass on
            service.submit(session, proxy, subject_id=home, channel="page",
                           text="户主想把授信额度提高一些，请问要准备什么材料？", cipher=cipher,
                           now=now - dt.timedelta(hours=1))
    service.escalate_overdue(session, now)
