"""Bodies of the voice webhook and the read-aloud endpoint."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from ctown.voice.tts import clean

#: The longest text the read-aloud button may send (a farmer's page section is ~200 characters;
#: espeak-ng takes ~0.3 s a hundred characters, so a cap keeps one request from holding a worker).
MAX_SAY = 500


class CallIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.:\-]+$")
    caller: str | None = Field(default=None, alias="from", max_length=32)


class KeysIn(BaseModel):
    digits: str = Field(default="", max_length=8, pattern=r"^[0-9*#]*$")
    #: The platform's reference of a recording (after key 9: a message left).
    recording: str | None = Field(default=None, max_length=200)

    @field_validator("recording")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """What the database can keep (PostgreSQL refuses NUL and lone surrogates)."""
        return clean(value) or None if value is not None else None


class ReplyOut(BaseModel):
    say: str
    audio_url: str
    expect_digits: int


class SayIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_SAY)


class SayOut(BaseModel):
    audio_url: str
