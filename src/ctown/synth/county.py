"""The administrative frame: one county, ~1 township per 2,000 households, ~10 villages each.

Codes follow the statistical division codes (统计用区划代码): county 330521000000, townships
330521100000 (towns 1xx, townships 2xx), villages 330521100201 (村委会 2xx).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctown.synth.names import COUNTY, PLACE_SYLLABLES, TOWNSHIP_SUFFIX, VILLAGE_SUFFIX


@dataclass(frozen=True)
class County:
    code: str
    name: str
    name_en: str
    townships: list[tuple[str, str, str]]  # code, name, name_en
    villages: list[tuple[str, str, str, str]]  # code, name, name_en, township code

    @property
    def region_part(self) -> str:
        return self.code[:6]

    def rows(self) -> list[dict[str, str]]:
        out = [{"code": self.code, "name": self.name, "name_en": self.name_en, "level": "county",
                "parent_code": ""}]
        out += [{"code": c, "name": n, "name_en": e, "level": "township", "parent_code": self.code}
                for c, n, e in self.townships]
        out += [{"code": c, "name": n, "name_en": e, "level": "village", "parent_code": t}
                for c, n, e, t in self.villages]
        return out


def _place_names(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    """``count`` distinct two-syllable names with their pinyin."""
    n = len(PLACE_SYLLABLES)
    pairs = rng.permutation(n * n)
    names: list[tuple[str, str]] = []
    for p in pairs:
        a, b = PLACE_SYLLABLES[p // n], PLACE_SYLLABLES[p % n]
        if a[0] == b[0]:
            continue
        names.append((a[0] + b[0], (a[1] + b[1].lower()).capitalize()))
        if len(names) == count:
            return names
    raise ValueError("county too large for the place-name list")


def build_county(households: int, rng: np.random.Generator) -> County:
    n_town = max(1, round(households / 2000))
    per_town = rng.integers(8, 13, size=n_town)  # ~10 villages per township
    names = _place_names(rng, n_town + int(per_town.sum()))
    townships, villages = [], []
    code6 = COUNTY[0][:6]
    # Real counties number towns (镇) 1xx and townships (乡) 2xx; about 1 in 4 is a 乡.
    n_towns = min(100, n_town - n_town // 4)
    if n_town - n_towns > 300:
        raise ValueError("county too large: at most 400 townships")
    for t in range(n_town):
        is_xiang = t >= n_towns
        suffix = TOWNSHIP_SUFFIX[1 if is_xiang else 0]
        tcode = f"{code6}{(200 + t - n_towns) if is_xiang else (100 + t):03d}000"
        zh, en = names.pop()
        townships.append((tcode, zh + suffix[0], f"{en} {suffix[1]}"))
        for v in range(int(per_town[t])):
            vzh, ven = names.pop()
            villages.append((f"{tcode[:9]}{201 + v:03d}", vzh + VILLAGE_SUFFIX[0],
                             f"{ven} {VILLAGE_SUFFIX[1]}", tcode))
    return County(COUNTY[0], COUNTY[1], COUNTY[2], townships, villages)
