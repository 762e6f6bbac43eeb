"""New agricultural business entities (新型农业经营主体): ~1 per 40 households.

Family farms, cooperatives and leading enterprises, each run by a household head, with a valid
unified social credit code (GB 32100) whose organisation-code part carries its GB 11714 check.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ctown.registry.identifiers import USCC_CHARSET, uscc_check_char
from ctown.synth.economy import sigmoid
from ctown.synth.names import ENTITY_TRADES, ENTITY_WORDS

KINDS = np.array(["family_farm", "cooperative", "leading_enterprise"])
KIND_P = np.array([0.6, 0.3, 0.1])
# Registration authority + organisation category: 92 个体工商户, 93 农民专业合作社, 91 企业.
PREFIX = {"family_farm": "92", "cooperative": "93", "leading_enterprise": "91"}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _org_check(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(w * (int(c) if c.isdigit() else ord(c) - 55) for w, c in zip(_ORG_WEIGHTS, body,
                                                                            strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def make_uscc(rng: np.random.Generator, kinds: np.ndarray, region: str) -> list[str]:
    codes: list[str] = []
    seen: set[str] = set()
    for kind in kinds:
        while True:
            body = "MA" + "".join(rng.choice(list(_ORG_BODY), 6))
            org = body + _org_check(body)
            first17 = PREFIX[str(kind)] + region + org
            if first17 not in seen and all(c in USCC_CHARSET for c in first17):
                break
        seen.add(first17)
        codes.append(first17 + uscc_check_char(first17))
    return codes


def build_entities(rng: np.random.Generator, eco: pl.DataFrame, county_name: str,
                   township_names: dict[str, str], region: str) -> pl.DataFrame:
    n = max(1, round(eco.height / 40))
    weight = (eco["land"] + 3 * eco["rented"] + eco["pigs"] / 5 + 1).to_numpy()
    owners = np.sort(rng.choice(eco.height, size=min(n, eco.height), replace=False,
                                p=weight / weight.sum()))
    own = eco[owners]
    kinds = KINDS[rng.choice(3, size=owners.size, p=KIND_P)]
    u = own["u"].to_numpy()
    employees = np.where(kinds == "family_farm", rng.integers(2, 12, owners.size),
                         np.where(kinds == "cooperative", rng.integers(5, 60, owners.size),
                                  rng.integers(20, 400, owners.size)))
    revenue = np.round(employees * rng.lognormal(2.6, 0.6, owners.size), 2)  # 万元
    grade_p = sigmoid(0.8 + u)
    grade = np.where(rng.random(owners.size) < grade_p * 0.5, "A",
                     np.where(rng.random(owners.size) < grade_p, "B",
                              np.where(rng.random(owners.size) < 0.5, "M",
                                       np.where(rng.random(owners.size) < 0.7, "C", "D"))))
    penalty = rng.random(owners.size) < sigmoid(-3.0 - 0.8 * u)
    return pl.DataFrame({
        "credit_code": make_uscc(rng, kinds, region),
        "name": _names(kinds, own, county_name, township_names),
        "kind": kinds, "owner_hh": own["hh"], "village_code": own["village_code"],
        "township_code": own["township_code"], "legal_rep_id": own["head_id"],
        "legal_rep": own["head_name"], "employees": employees, "revenue": revenue,
        "tax_paid": np.round(revenue * 10000 * rng.uniform(0.005, 0.03, owners.size), 2),
        "tax_arrears": np.where(rng.random(owners.size) < sigmoid(-3.2 - u),
                                np.round(rng.lognormal(8.5, 1, owners.size), 2), 0.0),
        "tax_grade": grade, "penalty": penalty,
        "fine": np.where(penalty, np.round(rng.lognormal(8.0, 1.0, owners.size), -2), 0.0),
        "abnormal": rng.random(owners.size) < sigmoid(-3.5 - 0.6 * u),
        "licence": rng.choice(np.array(["有效", "无需许可", "过期"]), size=owners.size,
                              p=[0.7, 0.25, 0.05]),
        "capital": np.round(employees * rng.lognormal(2.0, 0.8, owners.size), 1),
        "founded_days": rng.integers(200, 4000, owners.size),
    })


def _names(kinds: np.ndarray, own: pl.DataFrame, county: str, towns: dict[str, str]
           ) -> list[str]:
    out = []
    for i, (kind, head, town) in enumerate(zip(kinds, own["head_name"], own["township_code"],
                                               strict=True)):
        word = ENTITY_WORDS[i % len(ENTITY_WORDS)]
        trade = ENTITY_TRADES[(i // len(ENTITY_WORDS)) % len(ENTITY_TRADES)]
        place = towns[town][:-1]
        if kind == "family_farm":
            out.append(f"{county}{head}家庭农场")
        elif kind == "cooperative":
            out.append(f"{county}{place}{word}{trade}专业合作社")
        else:
            out.append(f"浙江{place}{word}农业发展有限公司")
    return out
