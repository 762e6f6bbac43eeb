"""Demo: the demo farmer's household head has a phone on file (the code's way in), and has
texted the county twice — ``CX`` and ``ED`` — while a number nobody registered texted ``CX``:
``ctown notify outbox --json`` shows the three replies, numbers masked. The farmer signs in at
/login/code with the head's resident ID and reads the code from the same command
(docs/channels.md)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.channels import service
from ctown.channels.models import InboundSms
from ctown.crypto import FieldCipher
from ctown.registry.models import Subject
from ctown.registry.service import phone_of, record_change, subject_aad

#: For a head without a phone on file (12% of the synthetic county's people have none).
DEMO_PHONE = "13900000001"
UNKNOWN_PHONE = "13000000000"  # in no synthetic county: the prefix 130 is not generated


def build(session: Session, ctx: DemoContext) -> None:
    farmer = ctx.user(session, Role.farmer)
    if farmer is None or farmer.subject_id is None:
        return
    if session.scalar(sa.select(InboundSms.id).where(InboundSms.message_id.like("demo-%"))):
        return  # built before: idempotent
    head = session.scalar(sa.select(Subject).where(
        Subject.household_id == farmer.subject_id, rules.is_head(Subject.relation))
        .order_by(Subject.id).limit(1))
    if head is None or head.id_index is None:
        return
    phone = phone_of(ctx.cipher, head) or _give_phone(session, ctx.cipher, head)
    for n, (sender, text) in enumerate([(phone, "CX"), (phone, "额度"), (UNKNOWN_PHONE, "cx")]):
        service.handle(session, ctx.cipher, service.Inbound(f"demo-{n}", sender, text))


def _give_phone(session: Session, cipher: FieldCipher, head: Subject) -> str:
    assert head.id_index is not None
    head.phone_cipher = cipher.encrypt(DEMO_PHONE, subject_aad("phone_cipher", head.id_index))
    head.phone_index = cipher.blind_index(DEMO_PHONE, "phone")
    record_change(session, actor=None, source="demo", action="update", entity="subject",
                  subject_id=head.id, payload={"phone_index": head.phone_index})
    return DEMO_PHONE
