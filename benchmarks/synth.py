"""Benchmark of ``ctown synth``: generation time and peak memory, against a plain CSV write.

Run: ``.venv/bin/python benchmarks/synth.py [--households N]`` (default 50,000; 300,000 is the
"large county" of the requirement and takes a few minutes). The baseline writes the same number of
rows as one plain UTF-8 CSV with Polars in the same process, so the ratio says what realism
(twelve layouts, encodings, XLSX, defects) costs over raw output. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ctown.synth.generator import generate


def baseline(rows: int, out: Path) -> float:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({f"c{i}": pl.Series(rng.integers(0, 10**9, rows)).cast(pl.String)
                          for i in range(10)})
    started = time.perf_counter()
    frame.write_csv(out / "baseline.csv")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        steps: dict[str, float] = {}
        last = [time.perf_counter()]

        def tick(step: str) -> None:
            now = time.perf_counter()
            steps[step] = round(now - last[0], 2)
            last[0] = now

        started = time.perf_counter()
        cpu0 = time.process_time()
        manifest = generate(args.households, args.seed, out / "county", progress=tick)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        rows = sum(d["rows"] for d in manifest["departments"].values())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline
        base = baseline(rows, out)
    slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:5]
    print(f"synth {args.households:,} households → {rows:,} feed rows in {wall:.1f} s wall "
          f"({cpu:.1f} s CPU), {rows / wall:,.0f} rows/s, peak RSS {peak_mb:.0f} MB")
    print(f"baseline plain CSV of {rows:,} rows: {base:.2f} s → ratio {wall / base:.1f}×")
    print("slowest steps: " + ", ".join(f"{k} {v}s" for k, v in slowest))
    print(json.dumps({"benchmark": "synth", "households": args.households, "feed_rows": rows,
                      "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                      "rows_per_second": round(rows / wall), "baseline_seconds": round(base, 3),
                      "ratio": round(wall / base, 1), "peak_rss_mb": round(peak_mb),
                      "steps": steps}))


if __name__ == "__main__":
    main()
