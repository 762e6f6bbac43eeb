"""The voice webhook, the read-aloud endpoint and the audio they point to (mounted under /api/v1).

The telephony platform posts a call and then each key press, signed (one rule with the SMS
webhook: :mod:`ctown.channels.signature`), and gets back what to say, the WAV of it and how many
keys to collect. The pages' "read aloud" button posts a text (a signed-in user, CSRF-checked,
rate-limited) and gets the WAV's address.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.channels import signature
from ctown.i18n import Message, _
from ctown.voice import service
from ctown.voice.schemas import CallIn, KeysIn, ReplyOut, SayIn, SayOut
from ctown.voice.tts import AudioCache, SpeechUnavailable, cache_for
from ctown.web.deps import DB_SESSION, current_user, get_settings, verify_csrf

router = APIRouter(prefix="/channels/voice", tags=["voice 语音"])
Db = Annotated[Session, DB_SESSION]
#: Read-aloud requests a user may make: a burst of 20, then 20 a minute (a page has ~5 sections).
SAY_BURST, SAY_PER_MINUTE = 20, 20.0


def audio_cache(request: Request) -> AudioCache:
    """The app's audio cache (``var/voice``), made on first use."""
    cache: AudioCache | None = getattr(request.app.state, "voice_cache", None)
    if cache is None:
        settings = get_settings(request)
        cache = request.app.state.voice_cache = cache_for(settings.var_dir, settings.secret_key)
    return cache


Cache = Annotated[AudioCache, Depends(audio_cache)]


async def signed_body(request: Request) -> bytes:
    """The raw body, when ``X-Ctown-Signature`` signs it with the voice secret; else 401."""
    body = await request.body()
    if not signature.valid(get_settings(request).voice_secret, body,
                           request.headers.get("x-ctown-signature")):
        raise HTTPException(401, detail=Message(_(
            "签名缺失或不正确：X-Ctown-Signature 应为请求体的 HMAC-SHA256（十六进制，密钥为 "
            "CTOWN_VOICE_SECRET）")).both())
    return body


Signed = Annotated[bytes, Depends(signed_body)]


Body = TypeVar("Body", CallIn, KeysIn)


def _parsed(model: type[Body], body: bytes) -> Body:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        # Without the input: it may be bytes (not JSON), and it holds the digits pressed.
        detail = exc.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(422, detail=detail) from exc


def _url(request: Request, cache: AudioCache, text: str) -> str:
    """The address of the text's WAV; "" when espeak-ng is not there (the platform may still
    speak ``say`` with its own voice)."""
    try:
        audio = cache.audio(text)
    except SpeechUnavailable:
        return ""
    return str(request.url_for("voice_audio", name=audio.name))


def _out(request: Request, cache: AudioCache, reply: service.Reply) -> ReplyOut:
    return ReplyOut(say=reply.say, audio_url=_url(request, cache, reply.say),
                    expect_digits=reply.expect_digits)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON body in the published description (the handler reads the raw bytes itself: the
    signature is over them)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema(by_alias=True)}}}}


@router.post("/calls", response_model=ReplyOut, openapi_extra=_body(CallIn))
def call(request: Request, body: Signed, db: Db, cache: Cache) -> ReplyOut:
    """A call comes in (the platform's ``call_id`` and the caller's number ``from``)."""
    parsed = _parsed(CallIn, body)
    reply = service.start(db, request.app.state.cipher, call_id=parsed.call_id,
                          caller=parsed.caller)
    return _out(request, cache, reply)


@router.post("/calls/{call_id}/keys", response_model=ReplyOut, openapi_extra=_body(KeysIn))
def keys(call_id: str, request: Request, body: Signed, db: Db, cache: Cache) -> ReplyOut:
    """Keys pressed (``digits``), and after 9 the reference of the recorded message."""
    parsed = _parsed(KeysIn, body)
    reply = service.press(db, request.app.state.cipher, call_id=call_id, digits=parsed.digits,
                          recording=parsed.recording)
    return _out(request, cache, reply)


@router.post("/say", response_model=SayOut, dependencies=[Depends(verify_csrf)])
def say(body: SayIn, request: Request, cache: Cache,
        user: Annotated[User, Depends(current_user)]) -> SayOut:
    """Read a text of the page aloud: the address of its WAV."""
    limiter = getattr(request.app.state, "rate_limiter", None)
    wait = limiter.buckets.take(f"voice-say:{user.id}", SAY_BURST, SAY_PER_MINUTE,
                                spend=True) if limiter is not None else 0.0
    if wait:
        raise HTTPException(429, headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                            detail=Message(_("朗读请求过于频繁，请一分钟后再试")).both())
    try:
        audio = cache.audio(body.text)
    except SpeechUnavailable as exc:
        raise HTTPException(503, detail=Message(_(
            "语音合成暂不可用：请管理员在服务器上安装 espeak-ng（make browser）")).both()) from exc
    return SayOut(audio_url=str(request.url_for("voice_audio", name=audio.name)))


@router.get("/audio/{name}", name="voice_audio", response_class=FileResponse)
def audio(name: str, cache: Cache) -> FileResponse:
    """A WAV the cache wrote (only its own content-addressed names; anything else: 404)."""
    path = cache.path_of(name)
    if path is None:
        raise HTTPException(404, detail=Message(_("没有这段语音：地址应来自语音接口的 audio_url")).both())
    return FileResponse(path, media_type="audio/wav")
