"""Why a subject has its grade: the factors that raised and lowered the score most, in words a
farmer understands (zh and en), and what would improve it. Computed over whole arrays; only the
final JSON objects are built per subject."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ctown.catalogue.service import load_catalogue
from ctown.i18n import Message, _

MIN_POINTS = 3  # smaller contributions are noise, not reasons


@dataclass
class FactorInfo:
    code: str
    name_zh: str
    name_en: str
    advice_zh: str = ""
    advice_en: str = ""


def feature_info(column: str) -> FactorInfo:
    """Plain names of a learned-model feature column (see features.py for the naming)."""
    cat = load_catalogue()
    if column == "age":
        return FactorInfo(column, "户主年龄", "Age of the household head")
    parts = column.split(".")
    code = parts[1] if parts[0] in ("head", "hist") else parts[0]
    ind = cat.indicators.get(code)
    zh, en = (ind.name_zh, ind.name_en) if ind else (column, column)
    if parts[0] == "head":
        return FactorInfo(column, f"户主{zh}", f"{en} (household head)")
    if parts[0] == "hist":
        return FactorInfo(column, f"近{parts[3]}个月「{zh}」记录数",
                          f"Records of '{en}' in the last {parts[3]} months")
    return FactorInfo(column, zh, en)


def _words(info: FactorInfo, points: int) -> dict[str, object]:
    msg = Message(_("{name}：{points:+d} 分"), {"name": info.name_zh, "points": points})
    en = Message(_("{name}：{points:+d} 分"), {"name": info.name_en, "points": points})
    return {"code": info.code, "points": points, "direction": "up" if points > 0 else "down",
            "zh": msg.render("zh_Hans"), "en": en.render("en")}


def _improve(info: FactorInfo, gap: int) -> dict[str, object]:
    zh = info.advice_zh or Message(_("改善「{name}」"), {"name": info.name_zh}).render("zh_Hans")
    en = info.advice_en or Message(_("改善「{name}」"), {"name": info.name_en}).render("en")
    tail = Message(_("（最多可加 {gap} 分）"), {"gap": gap})
    return {"code": info.code, "points": gap, "direction": "improve",
            "zh": zh + tail.render("zh_Hans"), "en": en + tail.render("en")}


class _Memo(dict[tuple[str, int, int], dict[str, object]]):
    """The same factor with the same points always reads the same: build each text once."""

    def __init__(self, infos: list[FactorInfo]) -> None:
        super().__init__()
        self.infos = infos

    def __missing__(self, key: tuple[str, int, int]) -> dict[str, object]:
        kind, j, points = key
        info = self.infos[j]
        value = _improve(info, points) if kind == "improve" else _words(info, points)
        self[key] = value
        return value


def build(contrib: np.ndarray, gaps: np.ndarray, infos: list[FactorInfo], improvable: np.ndarray,
          next_grade: list[str | None], needed: np.ndarray, top: int = 2
          ) -> list[list[dict[str, object]]]:
    """contrib: n × F points above (+) or below (−) neutral; gaps: n × F points still to gain.
    Ranking on whole arrays; the texts are built once per (factor, points) and joined on; Polars
    assembles the per-subject lists (no Python loop over subjects)."""
    n = contrib.shape[0]
    order = np.argsort(contrib, axis=1, kind="stable")
    gains = np.where(improvable[None, :], gaps, -1)
    best_j = np.argmax(gains, axis=1)
    slots = []
    for s in range(min(top, contrib.shape[1])):
        for kind, j in (("up", order[:, -1 - s]), ("down", order[:, s])):
            v = contrib[np.arange(n), j].astype(np.int64)
            keep = v >= MIN_POINTS if kind == "up" else v <= -MIN_POINTS
            slots.append(pl.DataFrame({"row": np.arange(n)[keep], "slot": s + (kind == "down") * 10,
                                       "kind": kind, "j": j[keep], "v": v[keep]}))
    bv = np.round(gains[np.arange(n), best_j]).astype(np.int64)
    keep = bv > 0
    slots.append(pl.DataFrame({"row": np.arange(n)[keep], "slot": 99, "kind": "improve",
                               "j": best_j[keep], "v": bv[keep]}))
    long = pl.concat([d.cast({"j": pl.Int64, "v": pl.Int64, "slot": pl.Int32}) for d in slots])
    memo = _Memo(infos)
    keys = long.select("kind", "j", "v").unique()
    texts = pl.DataFrame([{"kind": k, "j": j, "v": v, **memo[k, j, v]}
                          for k, j, v in keys.iter_rows()],
                         schema_overrides={"j": pl.Int64, "v": pl.Int64})
    extra = pl.DataFrame({"row": np.arange(n), "next_grade": next_grade, "needed": needed},
                         schema_overrides={"next_grade": pl.Utf8, "needed": pl.Int64})
    fields = ["code", "points", "direction", "zh", "en", "next_grade", "needed"]
    joined = (long.join(texts, on=["kind", "j", "v"]).join(extra, on="row")
              .with_columns(pl.when(pl.col("kind") == "improve").then(pl.col("next_grade"))
                            .alias("next_grade"),
                            pl.when(pl.col("kind") == "improve").then(pl.col("needed"))
                            .alias("needed"))
              .sort("row", "slot")
              .group_by("row", maintain_order=True).agg(pl.struct(fields).alias("r")))
    per_row = pl.DataFrame({"row": np.arange(n)}).join(joined, on="row", how="left",
                                                        maintain_order="left")
    return [r or [] for r in per_row["r"].to_list()]
