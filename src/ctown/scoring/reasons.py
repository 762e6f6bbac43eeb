"""Why a subject has its grade: the factors that raised and lowered the score most, in words a
farmer understands (zh and en), and what would improve it. Computed over whole arrays; only the
final JSON objects are built per subject."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def _next(grade: str, needed: int) -> dict[str, object]:
    msg = Message(_("距 {grade} 还差 {needed} 分"), {"grade": grade, "needed": needed})
    return {"code": "next_grade", "points": needed, "direction": "next", "grade": grade,
            "zh": msg.render("zh_Hans"), "en": msg.render("en")}


def build(contrib: np.ndarray, gaps: np.ndarray, infos: list[FactorInfo], improvable: np.ndarray,
          next_grade: list[str | None], needed: np.ndarray, top: int = 2
          ) -> list[list[dict[str, object]]]:
    """contrib: n × F points above (+) or below (−) neutral; gaps: n × F points still to gain.
    The ranking is done on whole arrays. Every text is built once per (factor, points) and the
    subjects' lists share those objects, so the remaining loop only assembles references."""
    rows = np.arange(contrib.shape[0])
    order = np.argsort(contrib, axis=1, kind="stable")
    cols: list[list[int]] = []
    depth = min(top, contrib.shape[1])
    picks = [order[:, -1 - s] for s in range(depth)] + [order[:, s] for s in range(depth)]
    for j in picks:  # the strongest ups first, then the strongest downs
        cols += [j.tolist(), contrib[rows, j].tolist()]
    gains = np.where(improvable[None, :], gaps, -1)
    best_j = np.argmax(gains, axis=1)
    best_v = np.round(gains[rows, best_j]).astype(np.int64)
    memo = _Memo(infos)
    nexts: dict[tuple[str, int], dict[str, object]] = {}
    kinds = ("up",) * depth + ("down",) * depth
    out = []
    for i, (bj, bv, grade, need) in enumerate(zip(best_j.tolist(), best_v.tolist(), next_grade,
                                                   needed.tolist(), strict=True)):
        items = []
        for k, kind in enumerate(kinds[:len(cols) // 2]):
            v = cols[2 * k + 1][i]
            if (v >= MIN_POINTS) if kind == "up" else (v <= -MIN_POINTS):
                items.append(memo[kind, cols[2 * k][i], v])
        if bv > 0:
            items.append(memo["improve", bj, bv])
        if grade is not None:
            key = (grade, need)
            if key not in nexts:
                nexts[key] = _next(grade, need)
            items.append(nexts[key])
        out.append(items)
    return out
