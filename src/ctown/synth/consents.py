"""The households' signed collection consents (信息采集授权书), as the village officers type them
in after the 整村授信 visits: ``consents/collection_consents.csv``.

About 92 % of households sign; the others' consent-required values (income, deposits, property,
insurance, social security) are held by the loader until a consent is recorded (see
``docs/ingest.md``, 授权暂存). Seeded: the same seed gives the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ctown.synth.context import World

SIGN_RATE = 0.92
FILE = "collection_consents.csv"


def signed(world: World) -> pl.DataFrame:
    """One row per signing household: form number, household number, head, ID, signing date."""
    rng = world.rng(300)
    h = world.households
    signs = rng.random(h.height) < SIGN_RATE
    # Signed during the visits of the year and a half before the snapshot (valid three years).
    days = rng.integers(20, 540, h.height)
    frame = h.select("household_no", "head_name", "head_id").with_columns(
        _days=pl.Series(days)).filter(pl.Series(signs))
    return frame.select(
        授权书编号=pl.lit("XXCJ-") + pl.col("household_no"), 户号=pl.col("household_no"),
        户主姓名=pl.col("head_name"), 户主身份证号=pl.col("head_id"),
        签署日期=(pl.lit(world.snapshot) - pl.duration(days=pl.col("_days"))).cast(pl.String))


def write_consents(world: World, out: Path) -> dict[str, object]:
    folder = out / "consents"
    folder.mkdir(parents=True, exist_ok=True)
    frame = signed(world)
    frame.write_csv(folder / FILE)
    return {"path": f"consents/{FILE}", "rows": frame.height,
            "households_without": world.households.height - frame.height,
            "sign_rate": float(np.round(frame.height / max(world.households.height, 1), 4))}
