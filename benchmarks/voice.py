"""Speaking a typical menu reply: synthesis by espeak-ng (cold: a text not heard before — pinyin
conversion, the subprocess, the WAV written atomically) against the cached answer (the same text
again: its keyed name computed, the file found), in the same process, on the same disk.

    .venv/bin/python benchmarks/voice.py [--runs 15]

Each cold run speaks a text of its own (the reply with a different amount), so none is cached;
each cached run asks again for a text already spoken. Medians of ``--runs``; also the length of
the spoken grade reply. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.voice.tts import AudioCache  # noqa: E402

GRADE = ("您家的信用等级是信用良好一档（B1级）。这个等级可以享受："
         "信用+抵押贷（宅基地使用权、大型农机）：最高 30万元，年利率 3.92%，不需要担保人。"
         "重听请按0，返回菜单请按星号键。")
REPLY = "下一期还款：2026年12月20日，应还{amount}元，信用贷（纯信用）。重听请按0，返回菜单请按星号键。"


def _ms(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = AudioCache(Path(tmp), b"benchmark-key".ljust(32, b"."))
        cache.audio("预热。")  # espeak-ng's version read once, the page cache warm
        texts = [REPLY.format(amount=f"{15000 + n}.45") for n in range(args.runs)]
        cold = [_ms(lambda t=t: cache.audio(t)) for t in texts]
        hot = [_ms(lambda t=t: cache.audio(t)) for t in texts]
        assert cache.synthesised == args.runs + 1, "a cached run synthesised again"
        grade = cache.audio(GRADE)
        with wave.open(str(grade.path)) as w:
            grade_s = w.getnframes() / w.getframerate()
        grade_cold_ms = _ms(lambda: AudioCache(Path(tmp) / "g", cache.key).audio(GRADE))
    result = {"runs": args.runs, "cold_ms": round(statistics.median(cold), 2),
              "cached_ms": round(statistics.median(hot), 3),
              "ratio": round(statistics.median(cold) / statistics.median(hot), 1),
              "reply_chars": len(texts[0]), "grade_reply_chars": len(GRADE),
              "grade_reply_seconds": round(grade_s, 2), "grade_cold_ms": round(grade_cold_ms, 1)}
    print(f"menu reply ({result['reply_chars']} characters): cold {result['cold_ms']} ms, "
          f"cached {result['cached_ms']} ms (median of {args.runs}) -> {result['ratio']}x")
    print(f"grade reply ({result['grade_reply_chars']} characters): {result['grade_reply_seconds']}"
          f" s of audio, synthesised in {result['grade_cold_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
