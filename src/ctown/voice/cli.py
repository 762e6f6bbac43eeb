"""``ctown voice``: speak a text with the server's engine (to hear a reading, or check espeak-ng
after an upgrade), warm the cache with the menu's prompts, and see the cache's size. No database:
the cache is files under ``var/voice``."""

from __future__ import annotations

import json
import shutil
import sys
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ctown.voice.tts import AudioCache

app = typer.Typer(help="语音 / voice: offline speech and its cache", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="voice")


def _cache() -> AudioCache:
    from ctown.settings import get_settings
    from ctown.voice.tts import cache_for

    settings = get_settings()
    return cache_for(settings.var_dir, settings.secret_key)


@app.command("say")
def say_cmd(text: str, out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="copy the WAV here")] = None,
            pinyin: Annotated[bool, typer.Option(help="print what espeak-ng is given")] = False
            ) -> None:
    """Speak TEXT (cached like the webhook's replies); print the file and its length."""
    from ctown.voice.tts import SpeechUnavailable, prepare

    if pinyin:
        print(prepare(text)[1])
    try:
        audio = _cache().audio(text)
    except SpeechUnavailable as exc:
        print(f"语音合成不可用，请安装 espeak-ng（make browser） / {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    with wave.open(str(audio.path)) as w:
        seconds = w.getnframes() / w.getframerate()
    if out is not None:
        shutil.copyfile(audio.path, out)
    print(json.dumps({"file": str(out or audio.path), "seconds": round(seconds, 2),
                      "cached": audio.cached}))


@app.command("warm")
def warm_cmd() -> None:
    """Speak every prompt of the menu that names nobody, so calls start from the cache."""
    from rich.progress import Progress

    from ctown.voice.service import fixed_replies
    from ctown.voice.tts import SpeechUnavailable

    cache, texts = _cache(), fixed_replies()
    try:
        with Progress(transient=True) as bar:
            for text in bar.track(texts, description="语音提示 / prompts"):
                cache.audio(text)
    except SpeechUnavailable as exc:
        print(f"语音合成不可用，请安装 espeak-ng（make browser） / {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(json.dumps({"prompts": len(texts), "synthesised": cache.synthesised}))


@app.command("cache")
def cache_cmd() -> None:
    """Files and bytes in the audio cache (``var/voice``)."""
    cache = _cache()
    files, size = cache.size()
    print(json.dumps({"folder": str(cache.root), "files": files, "bytes": size,
                      "limit_bytes": cache.max_bytes}))
