"""Demo: the voice menu's prompts spoken and cached (``var/voice``), and one scripted call — the
demo farmer's household head calls from the phone on file, gives the last four digits of the
resident ID and presses 1, 2 and 3 — so the first real call answers from the cache. Only the
prompts and that one household are synthesised: all households would take minutes."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.registry.models import Subject
from ctown.registry.service import phone_of, resident_id_of
from ctown.voice import service
from ctown.voice.models import VoiceCall
from ctown.voice.tts import AudioCache, SpeechUnavailable, cache_for

log = logging.getLogger(__name__)

DEMO_CALL = "demo-call-0001"
#: The keys of the scripted call after the four digits.
MENU_KEYS = ("1", "2", "3", "*")


def build(session: Session, ctx: DemoContext) -> None:
    cache = cache_for(ctx.settings.var_dir, ctx.settings.secret_key)
    try:
        for text in service.fixed_replies():
            cache.audio(text)
    except SpeechUnavailable:
        log.warning("voice demo: espeak-ng is not installed, no audio (make browser)")
        return
    if session.scalar(sa.select(VoiceCall.id).where(VoiceCall.call_id == DEMO_CALL)) is None:
        scripted_call(session, ctx, cache)


def scripted_call(session: Session, ctx: DemoContext, cache: AudioCache) -> list[service.Reply]:
    """The demo farmer's household head calls and walks the menu; every reply is spoken."""
    farmer = ctx.user(session, Role.farmer)
    if farmer is None or farmer.subject_id is None:
        return []
    head = session.scalar(sa.select(Subject).where(
        Subject.household_id == farmer.subject_id, Subject.phone_index.is_not(None))
        .order_by(Subject.id).limit(1))
    phone = phone_of(ctx.cipher, head) if head is not None else None
    resident = resident_id_of(ctx.cipher, head) if head is not None else None
    if phone is None or resident is None:
        return []
    replies = [service.start(session, ctx.cipher, call_id=DEMO_CALL, caller=phone)]
    for digits in (resident[-4:].replace("X", "*"), *MENU_KEYS):
        replies.append(service.press(session, ctx.cipher, call_id=DEMO_CALL, digits=digits))
    for reply in replies:
        cache.audio(reply.say)
    return replies
