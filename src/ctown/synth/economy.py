"""What households own, produce, earn and how they behave — one row per household.

A hidden trait ``u`` (character, N(0,1)) drives the behaviour that departments observe (repayment,
court records, village reviews, bills paid on time), so the observable data carries signal about
the risk that :mod:`ctown.synth.risk` derives from it.
"""

from __future__ import annotations

import numpy as np
import polars as pl

CROPS = np.array(["01", "02", "03", "04", "05", "06", "07", "08", "99"])
CROP_P = np.array([0.34, 0.06, 0.05, 0.14, 0.16, 0.12, 0.05, 0.05, 0.03])
EDU_LEVEL = {"10": 6, "20": 5, "30": 4, "40": 3, "50": 2, "60": 1, "90": 0}


def sigmoid(x: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return p


def build_economy(rng: np.random.Generator, hh: pl.DataFrame, people: pl.DataFrame
                  ) -> pl.DataFrame:
    """Household economy and behaviour, joined onto ``hh``."""
    n = hh.height
    heads = people.filter(pl.col("slot") == 0).sort("hh")
    labour = people.filter(pl.col("age").is_between(16, 64)).group_by("hh").len()
    labour_n = np.zeros(n, dtype=np.int64)
    labour_n[labour["hh"].to_numpy()] = labour["len"].to_numpy()
    age = heads["age"].to_numpy()
    edu = heads["education"].replace_strict(EDU_LEVEL, return_dtype=pl.Int64).to_numpy()
    u = rng.normal(0, 1, n)
    farm = _farming(rng, age, n)
    money = _income(rng, farm, labour_n, edu, u)
    behaviour = _behaviour(rng, u, n)
    return hh.with_columns(
        head_id=heads["resident_id"], head_name=heads["name"], head_birth=heads["birth"],
        head_edu_level=pl.Series(edu), labour=pl.Series(labour_n), u=pl.Series(u),
        **{k: pl.Series(v) for k, v in {**farm, **money, **behaviour}.items()})


def _farming(rng: np.random.Generator, age: np.ndarray, n: int) -> dict[str, np.ndarray]:
    # Older heads farm full time; younger ones work off the farm (兼业).
    p_pure = np.clip(0.1 + (age - 40) * 0.012, 0.05, 0.6)
    u = rng.random(n)
    farm_type = np.where(u < p_pure, 1, np.where(u < p_pure + 0.35, 2,
                                                 np.where(u < p_pure + 0.62, 3, 4)))
    land = np.round(rng.lognormal(1.2, 0.55, n) * np.where(farm_type == 4, 0.3, 1.0), 2)
    big = (farm_type <= 2) & (rng.random(n) < 0.08)
    rented = np.where(big, np.round(np.clip(rng.lognormal(3.6, 1.0, n), 5, 3000), 1), 0.0)
    pigs = np.where((farm_type <= 2) & (rng.random(n) < 0.12),
                    np.clip(rng.lognormal(1.8, 1.4, n), 1, 20000).astype(np.int64), 0)
    cattle = np.where((farm_type <= 2) & (rng.random(n) < 0.06),
                      np.clip(rng.lognormal(1.5, 1.0, n), 1, 5000).astype(np.int64), 0)
    machines = rng.poisson(0.4 + rented / 60 + (farm_type == 1) * 0.5)
    machine_value = np.round(machines * rng.lognormal(0.3, 0.8, n), 2)  # 万元
    crop = CROPS[rng.choice(CROPS.size, size=n, p=CROP_P)]
    crop = np.where(pigs > 50, "07", crop)
    sown = np.round((land + rented) * rng.uniform(0.8, 1.7, n), 2)
    return {"farm_type": farm_type, "land": land, "rented": rented, "pigs": pigs,
            "cattle": cattle, "machines": machines, "machine_value": machine_value,
            "crop": crop, "sown": sown,
            "homestead": np.round(rng.uniform(90, 230, n), 1),
            "floor_area": np.round(rng.uniform(120, 420, n), 1),
            "certified": rng.random(n) < 0.86}


def _income(rng: np.random.Generator, farm: dict[str, np.ndarray], labour: np.ndarray,
            edu: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    n = u.size
    area = farm["land"] + farm["rented"]
    farm_income = (area * rng.lognormal(7.3, 0.35, n) + farm["pigs"] * rng.lognormal(5.6, 0.4, n)
                   + farm["cattle"] * rng.lognormal(6.8, 0.4, n))
    farm_income = np.where(farm["farm_type"] == 4, farm_income * 0.2, farm_income)
    wage_earners = np.where(farm["farm_type"] >= 2, np.maximum(labour - 1, 0) + 1, 0)
    wages = wage_earners * rng.lognormal(10.4 + 0.08 * edu, 0.35, n)
    income = np.round(farm_income + wages + rng.lognormal(8.5, 0.8, n) + 3000 * u.clip(-1, 2), -2)
    income = np.maximum(income, 6000)
    subsidy = np.round(farm["land"] * rng.uniform(80, 140, n) + farm["rented"] * 120
                       + farm["machines"] * rng.uniform(0, 800, n), 0)
    deposits = np.round(np.clip(income * rng.lognormal(-0.5, 0.9, n) / 10000, 0, 500), 2)
    return {"farm_income": np.round(farm_income, 0), "wage_income": np.round(wages, 0),
            "income": income, "subsidy": subsidy, "deposits": deposits}


def _behaviour(rng: np.random.Generator, u: np.ndarray, n: int) -> dict[str, np.ndarray]:
    rules = np.clip(np.round(2.1 - 0.9 * u + rng.normal(0, 0.6, n)), 1, 4).astype(np.int64)
    court_lost = rng.random(n) < sigmoid(-3.9 - 0.9 * u)
    enforced = court_lost & (rng.random(n) < 0.45)
    dishonest = enforced & (rng.random(n) < 0.4)
    return {
        "rules": rules,
        "volunteer_hours": np.round(np.clip(rng.gamma(2.0, 4.0, n) * np.exp(0.4 * u), 0, 400), 1),
        "disputes": rng.poisson(np.exp(-2.3 - 0.7 * u)),
        "environment": np.clip(np.round(82 + 7 * u + rng.normal(0, 6, n)), 40, 100)
        .astype(np.int64),
        "court_lost": court_lost, "enforced": enforced, "dishonest": dishonest,
        "enforce_amount": np.where(enforced, np.round(rng.lognormal(10.3, 0.9, n), -2), 0.0),
        "civil_honour": rng.random(n) < sigmoid(-3.0 + 0.8 * u),
        "awards": rng.poisson(np.exp(-3.5 + 0.6 * u)),
        "good_person": rng.random(n) < sigmoid(-4.5 + 0.7 * u),
        "bill_on_time_p": sigmoid(3.0 + 1.1 * u),
        "insured": rng.random(n) < 0.38,
    }
