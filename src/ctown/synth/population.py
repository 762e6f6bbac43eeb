"""Households and their members, drawn as whole arrays (numpy) and assembled with Polars.

Household sizes, ages, relations, education and marital status follow rough shapes of a rural
county in Zhejiang; resident IDs are valid GB 11643 numbers whose region part is the county.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ctown.synth.county import County
from ctown.synth.names import FEMALE_CHARS, MALE_CHARS, RARE_CHARS, SURNAMES

SIZE_P = np.array([0.12, 0.25, 0.22, 0.20, 0.12, 0.06, 0.03])  # 1..7 members
ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
ID_CHECK = np.array(list("10X98765432"))
# Education (catalogue I0101 codes 10..90) by age band: <16, 16-29, 30-44, 45-59, 60+.
EDU_CODES = np.array(["10", "20", "30", "40", "50", "60", "90"])
EDU_P = np.array([
    [0.00, 0.00, 0.00, 0.00, 0.45, 0.55, 0.00],
    [0.03, 0.22, 0.25, 0.30, 0.18, 0.02, 0.00],
    [0.01, 0.10, 0.14, 0.30, 0.38, 0.07, 0.00],
    [0.00, 0.02, 0.04, 0.20, 0.52, 0.20, 0.02],
    [0.00, 0.00, 0.01, 0.07, 0.30, 0.45, 0.17],
])


def _surname_weights() -> np.ndarray:
    w = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.8
    weights: np.ndarray = w / w.sum()
    return weights


def _given_names(rng: np.random.Generator, male: np.ndarray) -> pl.Series:
    n = male.size
    chars_m, chars_f = np.array(MALE_CHARS), np.array(FEMALE_CHARS)
    first = np.where(male, chars_m[rng.integers(0, chars_m.size, n)],
                     chars_f[rng.integers(0, chars_f.size, n)])
    second = np.where(male, chars_m[rng.integers(0, chars_m.size, n)],
                      chars_f[rng.integers(0, chars_f.size, n)])
    rare = np.array(RARE_CHARS)
    first = np.where(rng.random(n) < 0.004, rare[rng.integers(0, rare.size, n)], first)
    two = rng.random(n) < 0.7  # most rural names have two characters after the surname
    return pl.Series(first) + pl.Series(np.where(two, second, ""))


def check_chars(first17: np.ndarray) -> np.ndarray:
    """GB 11643 check characters of int64 numbers holding the first 17 digits."""
    digits = (first17[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))) % 10
    checks: np.ndarray = ID_CHECK[(digits * ID_WEIGHTS).sum(axis=1) % 11]
    return checks


def _relations(slot: np.ndarray, head_age: np.ndarray, married: np.ndarray) -> np.ndarray:
    old = head_age >= 50
    rel = np.full(slot.size, "子女", dtype=object)
    rel[slot == 0] = "户主"
    rel[(slot == 1) & married] = "配偶"
    rel[(slot == 4) & old] = "儿媳"
    rel[(slot == 4) & ~old] = "父母"
    rel[(slot >= 5) & old] = "孙子女"
    return rel


def _ages(rng: np.random.Generator, rel: np.ndarray, head_age: np.ndarray) -> np.ndarray:
    n = rel.size
    age = head_age.copy()
    spouse = rel == "配偶"
    age[spouse] = np.clip(head_age[spouse] + rng.integers(-6, 4, spouse.sum()), 18, 95)
    child = rel == "子女"
    age[child] = np.maximum(head_age[child] - rng.integers(22, 36, child.sum()), 0)
    dil = rel == "儿媳"
    age[dil] = np.clip(head_age[dil] - rng.integers(24, 32, dil.sum()), 18, 70)
    parent = rel == "父母"
    age[parent] = np.clip(head_age[parent] + rng.integers(22, 32, parent.sum()), 40, 100)
    grand = rel == "孙子女"
    age[grand] = np.clip(head_age[grand] - rng.integers(45, 62, grand.sum()), 0, 40)
    return age + 0 * n


def build_people(rng: np.random.Generator, county: County, households: int,
                 snapshot: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(households, persons) frames; households sorted by village, persons by household."""
    n_v = len(county.villages)
    weights = rng.lognormal(0, 0.35, n_v)
    village = np.sort(rng.choice(n_v, size=households, p=weights / weights.sum()))
    size = rng.choice(np.arange(1, 8), size=households, p=SIZE_P)
    head_age = np.clip(rng.normal(54, 13, households).astype(np.int64), 22, 92)
    head_male = rng.random(households) < 0.86
    married = (size >= 2) & (rng.random(households) < 0.9)
    vcodes = np.array([v[0] for v in county.villages])
    serial = np.arange(households) - np.searchsorted(village, village) + 1
    hh = pl.DataFrame({
        "hh": np.arange(households), "village_code": vcodes[village],
        "township_code": np.array([v[3] for v in county.villages])[village],
        "size": size, "head_age": head_age, "married": married,
    }).with_columns(household_no=pl.col("village_code").str.slice(6, 6)
                    + pl.Series(serial).cast(pl.String).str.zfill(4))
    return hh, _members(rng, county, hh, head_male, snapshot)


def _members(rng: np.random.Generator, county: County, hh: pl.DataFrame, head_male: np.ndarray,
             snapshot: dt.date) -> pl.DataFrame:
    size = hh["size"].to_numpy()
    owner = np.repeat(np.arange(size.size), size)
    slot = np.arange(owner.size) - np.repeat(np.cumsum(size) - size, size)
    head_age, married = hh["head_age"].to_numpy()[owner], hh["married"].to_numpy()[owner]
    rel = _relations(slot, head_age, married)
    age = _ages(rng, rel, head_age)
    hmale = head_male[owner]
    male = np.where(slot == 0, hmale, np.where(rel == "配偶", ~hmale,
                    np.where(rel == "儿媳", False, rng.random(owner.size) < 0.52)))
    surname_idx = rng.choice(len(SURNAMES), size=size.size, p=_surname_weights())
    own_surname = rng.choice(len(SURNAMES), size=owner.size, p=_surname_weights())
    married_in = (rel == "配偶") | (rel == "儿媳") | ((rel == "父母") & ~male)
    surname = np.array(SURNAMES)[np.where(married_in, own_surname, surname_idx[owner])]
    name = pl.Series(surname) + _given_names(rng, male)
    birth = _birth_dates(rng, age, snapshot)
    band = np.digitize(age, [16, 30, 45, 60])
    edu = EDU_CODES[(rng.random(owner.size)[:, None] > np.cumsum(EDU_P[band], axis=1)).sum(1)
                    .clip(0, 6)]
    marital = _marital(rng, rel, age, married)
    phone = _phones(rng, age)
    frame = pl.DataFrame({
        "hh": owner, "slot": slot, "name": name, "relation": rel.astype(str),
        "male": male, "age": age, "birth": birth, "education": edu, "marital": marital,
        "phone": pl.Series(phone.tolist(), dtype=pl.String)})
    return _with_ids(frame, county.region_part).with_columns(
        village_code=pl.Series(hh["village_code"].to_numpy()[owner]),
        household_no=pl.Series(hh["household_no"].to_numpy()[owner]))


def _birth_dates(rng: np.random.Generator, age: np.ndarray, snapshot: dt.date) -> np.ndarray:
    days = (age * 365.25 + rng.integers(1, 365, age.size)).astype("timedelta64[D]")
    return np.datetime64(snapshot, "D") - days


def _marital(rng: np.random.Generator, rel: np.ndarray, age: np.ndarray,
             married: np.ndarray) -> np.ndarray:
    out = np.where(age >= 28, "20", "10").astype(object)
    u = rng.random(age.size)
    out[(age >= 28) & (u < 0.07)] = "10"
    out[(age >= 60) & (u > 0.85)] = "30"
    out[(age >= 30) & (age < 60) & (u > 0.95)] = "40"
    out[(rel == "配偶") | (rel == "儿媳")] = "20"
    out[(rel == "户主") & married] = "20"
    out[age < 20] = "10"
    return out.astype(str)


def _phones(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    prefixes = np.array([133, 135, 136, 137, 138, 139, 150, 151, 152, 158, 159, 177, 180, 181,
                         187, 188, 189, 199])
    body = rng.integers(0, 10**8, age.size)
    nums = prefixes[rng.integers(0, prefixes.size, age.size)].astype(np.int64) * 10**8 + body
    has = (age >= 16) & (age <= 80) & (rng.random(age.size) < 0.88)
    return np.where(has, nums.astype(str), np.array(None))  # what np.where makes of None


def _with_ids(frame: pl.DataFrame, region: str) -> pl.DataFrame:
    """Resident IDs: region + birth date + sequence (odd for men) + check character, unique."""
    frame = frame.with_columns(
        ymd=pl.col("birth").dt.strftime("%Y%m%d").cast(pl.Int64),
        rank=pl.int_range(pl.len()).over(["birth", "male"]))
    ymd, rank = frame["ymd"].to_numpy(), frame["rank"].to_numpy()
    # A per-date offset keeps sequence numbers from all starting at 000.
    offset = (ymd * 2654435761 % 97).astype(np.int64)
    seq = 2 * (rank + offset) + frame["male"].to_numpy().astype(np.int64)
    if seq.max() > 999:
        raise ValueError("too many people born on one day for one county")
    first17 = int(region) * 10**11 + ymd * 1000 + seq
    ids = pl.Series(first17.astype(str)) + pl.Series(check_chars(first17))
    return frame.drop("ymd", "rank").with_columns(resident_id=ids)
