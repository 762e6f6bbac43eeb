"""Speech (ctown.voice.spoken, ctown.voice.tts): readings against hand-written pinyin, figures
against hand-written Chinese words, and real espeak-ng audio — valid WAV, a length that follows
the text, synthesised once per text (files and mtimes counted, nothing mocked)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import wave
from pathlib import Path

import pytest

from ctown.voice import spoken
from ctown.voice.tts import AudioCache, SpeechUnavailable, cache_for, engine_version, prepare

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng not installed (make browser, or apt-get install espeak-ng)")
KEY = b"k" * 32


# -- readings -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("银行", "yin2 hang2"),
    ("还款", "huan2 kuan3"),            # pypinyin alone says hai2 kuan3 (还 = "still")
    ("按时还款", "an4 shi2 huan2 kuan3"),
    ("还有", "hai2 you3"),              # … and 还 as "still" stays hai2
    ("重庆", "chong2 qing4"),
    ("重要", "zhong4 yao4"),
    ("长期", "chang2 qi1"),
    ("长大", "zhang3 da4"),
    ("银行行长", "yin2 hang2 hang2 zhang3"),
    ("信用良好一档", "xin4 yong4 liang2 hao3 yi1 dang4"),
])
def test_polyphonic_characters_are_read_from_their_phrase(text: str, expected: str) -> None:
    assert spoken.pinyin(text) == expected


@pytest.mark.parametrize(("amount", "expected"), [
    ("12,500.50", "一万二千五百元五角"),
    ("12500.5", "一万二千五百元五角"),
    ("3.05", "三元零五分"),
    ("800", "八百元"),
    ("0.50", "五角"),
    ("0.08", "八分"),
    ("1234.56", "一千二百三十四元五角六分"),
])
def test_amounts_are_said_in_yuan_jiao_fen(amount: str, expected: str) -> None:
    assert spoken.money(amount) == expected
    assert spoken.words(f"应还{amount}元") == "应还" + expected


@pytest.mark.parametrize(("text", "expected"), [
    ("3.5万元", "三点五万元"),
    ("15万元", "十五万元"),
    ("2026年12月3日", "二零二六年十二月三日"),
    ("2026-12-20", "二零二六年十二月二十日"),
    ("18:30", "十八点三十分"),
    ("9:00", "九点"),
    ("年利率 3.7%", "年利率 百分之三点七"),
    ("还差 9 分", "还差 九 分"),
])
def test_figures_become_words(text: str, expected: str) -> None:
    assert spoken.words(text) == expected


def test_a_reply_becomes_tone_numbered_pinyin_with_pauses() -> None:
    text = "下一期还款：2026年12月3日，应还12,500.50元。您家的信用等级是B1级。"
    assert spoken.pinyin(text) == (
        "xia4 yi1 qi1 huan2 kuan3 , er4 ling2 er4 liu4 nian2 shi2 er4 yue4 san1 ri4 , "
        "ying1 huan2 yi1 wan4 er4 qian1 wu3 bai3 yuan2 wu3 jiao3 . "
        "nin2 jia1 de5 xin4 yong4 deng3 ji2 shi4 bi4 yi1 ji2 .")


def test_chinese_goes_to_the_pinyin_voice_english_to_the_english_one() -> None:
    assert prepare("您好")[0] == "cmn-latn-pinyin"
    assert prepare("Next instalment: 2026-12-20") == ("en", "Next instalment: 2026-12-20")


# -- audio ----------------------------------------------------------------------------------------
def _wav(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes() / w.getframerate()


@needs_espeak
def test_the_pinyin_voice_speaks_syllables_not_english_digits() -> None:
    """What espeak-ng makes of the text, as phonemes: Mandarin tones (55, 51…) throughout; the
    plain ``cmn`` voice given the same pinyin switches to English for the tone digits."""
    voice, said = prepare("您的信用等级是B1级，下一期还款2026年12月20日。")
    assert ESPEAK is not None
    ours = subprocess.run([ESPEAK, "-q", "-x", "-v", voice, said], capture_output=True,
                          text=True, check=True).stdout
    plain = subprocess.run([ESPEAK, "-q", "-x", "-v", "cmn", said], capture_output=True,
                           text=True, check=True).stdout
    assert "(en)" not in ours and "51" in ours and "35" in ours
    assert "(en)" in plain


@needs_espeak
def test_wav_is_valid_and_its_length_follows_the_text(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, KEY)
    short = "您好。"
    long = "查信用等级和它带来的好处请按1，下一期还款请按2，听一条小建议请按3，留言请按9，重听请按0。"
    channels, width, rate, short_s = _wav(cache.audio(short).path)
    assert (channels, width, rate) == (1, 2, 22050)
    *_fmt, long_s = _wav(cache.audio(long).path)
    # Mandarin is ~4-5 syllables a second; espeak-ng at 150 words a minute a little slower.
    syllables = len(spoken.pinyin(long).replace(",", "").replace(".", "").split())
    assert 0.12 * syllables < long_s < 0.5 * syllables, (syllables, long_s)
    assert 0.2 < short_s < 2.0
    assert long_s > 5 * short_s


@needs_espeak
def test_a_cached_text_is_not_synthesised_again(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, KEY)
    first = cache.audio("您家的信用等级是信用良好一档（B1级）。")
    stat = first.path.stat()
    files = sorted(tmp_path.glob("*.wav"))
    again = AudioCache(tmp_path, KEY).audio("您家的信用等级是信用良好一档（B1级）。")  # a new process
    assert (first.cached, again.cached) == (False, True)
    assert again.path == first.path and sorted(tmp_path.glob("*.wav")) == files
    after = first.path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (stat.st_mtime_ns, stat.st_ino)
    assert cache.synthesised == 1


@needs_espeak
def test_names_depend_on_the_text_and_the_key_and_are_safe(tmp_path: Path) -> None:
    one, other = AudioCache(tmp_path, KEY), AudioCache(tmp_path, b"x" * 32)
    assert one.name_for("您好") != one.name_for("您好。") != other.name_for("您好。")
    assert one.name_for("您好") != other.name_for("您好")  # nobody guesses a name from the words
    name = one.audio("您好").name
    assert one.path_of(name) is not None
    for bad in ("../" + name, name.upper(), name[:-4], name + "\n", "x" * 32 + ".wav",
                "/etc/passwd"):
        assert one.path_of(bad) is None, bad


@needs_espeak
def test_concurrent_requests_for_one_text_synthesise_once(tmp_path: Path) -> None:
    caches = [AudioCache(tmp_path, KEY) for _ in range(6)]  # as six workers would
    start = threading.Barrier(len(caches))
    results = []

    def run(cache: AudioCache) -> None:
        start.wait()
        results.append(cache.audio("下一期还款：2026年12月20日，应还15092.45元。"))

    threads = [threading.Thread(target=run, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c.synthesised for c in caches) == 1
    assert len({r.name for r in results}) == 1 and sum(not r.cached for r in results) == 1
    assert len(list(tmp_path.glob("*.wav"))) == 1 and not list(tmp_path.glob(".tmp-*"))


@needs_espeak
def test_the_cache_is_bounded_least_recently_heard_go_first(tmp_path: Path) -> None:
    probe = AudioCache(tmp_path / "probe", KEY)
    size = probe.audio("一二三四五").path.stat().st_size
    cache = AudioCache(tmp_path / "c", KEY, max_bytes=int(size * 2.5))
    a, b = cache.audio("一二三四五"), cache.audio("六七八九十")
    import os
    os.utime(a.path, (1, a.path.stat().st_mtime))  # a heard long ago
    cache.audio("五四三二一")
    assert not a.path.exists() and b.path.exists()
    files, total = cache.size()
    assert files == 2 and total <= cache.max_bytes


@needs_espeak
def test_the_engine_version_is_part_of_every_name(tmp_path: Path) -> None:
    assert ESPEAK is not None and engine_version(ESPEAK).startswith("eSpeak NG text-to-speech")


def test_a_missing_engine_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable, match="espeak-ng"):
        AudioCache(tmp_path, KEY, binary=str(tmp_path / "no-espeak-ng")).audio("您好")


def test_the_county_cache_lives_under_var_and_is_keyed_from_the_secret(tmp_path: Path) -> None:
    cache = cache_for(tmp_path, b"s" * 32)
    assert cache.root == tmp_path / "voice" and cache.key != b"s" * 32


@needs_espeak
def test_the_command_speaks_warms_and_reports_the_cache(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from ctown.cli import app as root
    from ctown.voice.service import fixed_replies

    runner, env = CliRunner(), {"CTOWN_VAR_DIR": str(tmp_path)}
    out = tmp_path / "said.wav"
    said = runner.invoke(root, ["voice", "say", "按时还款", "--out", str(out), "--pinyin"], env=env)
    assert said.exit_code == 0, said.output
    assert said.output.splitlines()[0] == "an4 shi2 huan2 kuan3"
    assert json.loads(said.output.splitlines()[-1])["cached"] is False and _wav(out)[3] > 0.5
    warm = runner.invoke(root, ["voice", "warm"], env=env)
    assert json.loads(warm.output.splitlines()[-1]) == {"prompts": len(fixed_replies()),
                                                         "synthesised": len(set(fixed_replies()))}
    again = runner.invoke(root, ["voice", "warm"], env=env)
    assert json.loads(again.output.splitlines()[-1])["synthesised"] == 0
    size = json.loads(runner.invoke(root, ["voice", "cache"], env=env).output)
    assert size["files"] == len(set(fixed_replies())) + 1 and size["bytes"] > 0
