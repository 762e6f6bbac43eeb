"""The voice webhook and read-aloud over HTTP, on both databases: a call walked key by key with
each reply's WAV fetched and measured, signatures (401), the audio route's names, and the
read-aloud endpoint for signed-in users (CSRF, cap, rate limit) and refused for anonymous."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.factories import build_county, resident_id
from tests.webutil import csrf_from, login

from ctown.app import create_app
from ctown.channels import signature
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.settings import Settings
from ctown.voice.schemas import MAX_SAY

SECRET = "voice-test-secret"
PHONE, LAST4 = "13800000000", resident_id(dt.date(1950, 1, 1), 1)[-4:]
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng not installed (make browser, or apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def site(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url, var = db_factory.migrated_url(), tmp_path_factory.mktemp("voice")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), passwords=True)
    engine.dispose()
    app = create_app(Settings(database_url=url, var_dir=var, voice_secret=SECRET))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _post(client: TestClient, path: str, body: dict[str, Any], secret: str | None = SECRET,
          signed: bytes | None = None) -> Any:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Ctown-Signature"] = signature.sign(secret, raw if signed is None else signed)
    return client.post(f"/api/v1/channels/voice{path}", content=raw, headers=headers)


def _measure(client: TestClient, url: str) -> float:
    """The WAV behind ``url``: valid, mono 16-bit 22.05 kHz; its length in seconds."""
    answer = client.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        assert w.getnframes() > 0
        return w.getnframes() / w.getframerate()


@needs_espeak
def test_a_call_walked_key_by_key_with_the_audio_measured(site: TestClient) -> None:
    steps = [("/calls", {"call_id": "api-1", "from": PHONE})] + [
        ("/calls/api-1/keys", {"digits": d}) for d in (LAST4, "1", "2", "3", "*")]
    replies = []
    for path, body in steps:
        answer = _post(site, path, body)
        assert answer.status_code == 200, answer.text
        replies.append(answer.json())
    assert [r["expect_digits"] for r in replies] == [4, 1, 1, 1, 1, 1]
    assert replies[1]["say"].startswith("查信用等级") and replies[2]["say"].startswith("您家")
    for reply in replies:
        seconds = _measure(site, reply["audio_url"])
        chinese = sum("\u4e00" <= ch <= "\u9fff" for ch in reply["say"])
        # ~3-4 Chinese syllables a second at espeak-ng's 150; figures add syllables.
        assert 0.12 * chinese < seconds < 0.6 * chinese + 2, (reply["say"], seconds)
    assert replies[1]["audio_url"] == replies[5]["audio_url"]  # the menu: one cached file


def test_unsigned_and_wrongly_signed_requests_are_refused(site: TestClient) -> None:
    body = {"call_id": "api-2", "from": PHONE}
    assert _post(site, "/calls", body, secret=None).status_code == 401
    assert _post(site, "/calls", body, secret="not-the-secret").status_code == 401
    assert _post(site, "/calls", body, signed=b'{"call_id": "other"}').status_code == 401
    refused = _post(site, "/calls/api-2/keys", {"digits": LAST4}, secret=None)
    assert refused.status_code == 401 and "CTOWN_VOICE_SECRET" in refused.json()["detail"]["en"]


def test_without_a_secret_configured_nothing_is_accepted(tmp_path: Path) -> None:
    assert not signature.valid("", b"{}", signature.sign("", b"{}"))
    assert signature.valid(SECRET, b"{}", signature.sign(SECRET, b"{}").upper())


def test_bad_bodies_and_unknown_calls(site: TestClient) -> None:
    assert _post(site, "/calls", {"from": PHONE}).status_code == 422
    assert _post(site, "/calls", {"call_id": "a b/c"}).status_code == 422
    assert _post(site, "/calls/nobody/keys", {"digits": "1"}).status_code == 404
    _post(site, "/calls", {"call_id": "api-3", "from": PHONE})
    assert _post(site, "/calls/api-3/keys", {"digits": "1; drop"}).status_code == 422


@needs_espeak
def test_identification_failures_reveal_nothing_over_http(site: TestClient) -> None:
    _post(site, "/calls", {"call_id": "api-4", "from": PHONE})
    _post(site, "/calls", {"call_id": "api-5", "from": "13999999999"})
    wrong = [_post(site, "/calls/api-4/keys", {"digits": "0000"}).json() for _ in range(3)]
    unknown = [_post(site, "/calls/api-5/keys", {"digits": LAST4}).json() for _ in range(3)]
    assert wrong == unknown  # the same words and the same audio file
    assert wrong[-1]["expect_digits"] == 0 and "村委会" in wrong[-1]["say"]


def test_the_audio_route_serves_only_its_own_names(site: TestClient) -> None:
    for name in ("x" * 32 + ".wav", "0" * 32 + ".wav", "..%2F..%2Fkeys.json", "keys.json"):
        assert site.get(f"/api/v1/channels/voice/audio/{name}").status_code == 404, name


def _signed_in(site: TestClient, who: str) -> dict[str, str]:
    site.cookies.clear()
    login(site, who, f"pw-{who}-123")
    home = site.get("/")
    page = site.get(home.headers["location"]) if home.status_code == 303 else home
    return {"X-CSRF-Token": csrf_from(page.text)}


@needs_espeak
@pytest.mark.parametrize("who", ["farmer", "admin", "bank", "proxy"])
def test_read_aloud_for_a_signed_in_user(site: TestClient, who: str) -> None:
    headers = _signed_in(site, who)
    answer = site.post("/api/v1/channels/voice/say", json={"text": "您家的信用等级是B1级。"},
                       headers=headers)
    assert answer.status_code == 200, answer.text
    assert 1.0 < _measure(site, answer.json()["audio_url"]) < 8.0
    english = site.post("/api/v1/channels/voice/say", json={"text": "Your grade is B1."},
                        headers=headers)
    assert english.status_code == 200 and english.json()["audio_url"] != answer.json()["audio_url"]


def test_read_aloud_is_refused_anonymously_without_csrf_and_past_the_cap(
        site: TestClient) -> None:
    site.cookies.clear()
    anonymous = site.post("/api/v1/channels/voice/say", json={"text": "您好"})
    assert anonymous.status_code in (401, 403) and "audio_url" not in anonymous.text
    bad_token = site.post("/api/v1/channels/voice/say", json={"text": "您好"},
                          headers={"Authorization": "Bearer not-a-token"})
    assert bad_token.status_code == 401  # a token is exempt from CSRF: refused as nobody
    headers = _signed_in(site, "village")
    assert site.post("/api/v1/channels/voice/say", json={"text": "您好"}).status_code == 403
    too_long = site.post("/api/v1/channels/voice/say", json={"text": "好" * (MAX_SAY + 1)},
                         headers=headers)
    assert too_long.status_code == 422
    assert site.post("/api/v1/channels/voice/say", json={"text": ""},
                     headers=headers).status_code == 422


@needs_espeak
def test_read_aloud_is_rate_limited_per_user(site: TestClient) -> None:
    from ctown.voice.api import SAY_BURST

    headers = _signed_in(site, "township")
    codes = [site.post("/api/v1/channels/voice/say", json={"text": "您好"},
                       headers=headers).status_code for _ in range(SAY_BURST + 1)]
    assert codes[:SAY_BURST] == [200] * SAY_BURST and codes[-1] == 429


def test_odd_but_signed_keys_are_answered_never_failed(site: TestClient) -> None:
    """What a platform or a caller may really send, signed: every answer is 200 or 422."""
    assert _post(site, "/calls", {"call_id": "api-odd", "from": "anonymous"}).status_code == 200
    assert _post(site, "/calls", {"call_id": "x" * 65}).status_code == 422
    for body in ({"digits": ""}, {"digits": "#"}, {"digits": "*"}, {"digits": "12345678"},
                 {}, {"digits": "1", "recording": "a\u0000b"}, {"digits": None}):
        answer = _post(site, "/calls/api-odd/keys", body)
        assert answer.status_code in (200, 422), (body, answer.status_code)
    raw = b"not json"
    answer = site.post("/api/v1/channels/voice/calls/api-odd/keys", content=raw, headers={
        "X-Ctown-Signature": signature.sign(SECRET, raw)})
    assert answer.status_code == 422
