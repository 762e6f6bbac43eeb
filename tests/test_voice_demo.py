"""The voice demo builder on the test county (both databases): the menu's prompts are cached,
the scripted call walks the demo farmer's menu, and a second run reuses both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county

from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.scoring.service import record_grade
from ctown.settings import get_settings
from ctown.voice import demo, service, status
from ctown.voice.models import VoiceCall
from ctown.voice.tts import cache_for

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng not installed (make browser, or apt-get install espeak-ng)")


def test_the_demo_warms_the_prompts_and_walks_one_call(session: Session, tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=2)
    home = county.users["farmer"].subject_id
    assert home is not None
    record_grade(session, subject_id=home, score=700, grade="A1", pd=0.01, reasons=[],
                 model_version="test", actor=None)
    ctx = DemoContext.of(settings, tmp_path / "work", county.users.values())
    demo.build(session, ctx)
    cache = cache_for(settings.var_dir, settings.secret_key)
    files, _bytes = cache.size()
    call = session.scalar(sa.select(VoiceCall).where(VoiceCall.call_id == demo.DEMO_CALL))
    assert call is not None and call.state == "menu" and call.last_key == "3"
    # Every prompt, plus the one answer that names the household: its grade (A1). It has no
    # loan and no tip, and those two answers name nobody: they are prompts already cached.
    assert files == len(set(service.fixed_replies())) + 1
    grade = "您家的信用等级是信用优秀一档（A1级）。"
    assert any(t.startswith(grade) for t in [r.say for r in demo.scripted_call(
        session, DemoContext.of(settings, tmp_path, county.users.values()), cache)])
    assert all(cache.path_of(cache.name_for(t)) for t in service.fixed_replies())
    demo.build(session, ctx)  # idempotent: nothing new said, no second call
    assert cache.size()[0] == files
    assert status.counts(session) == {"voice.calls": 1, "voice.identified": 1}
