"""Reading a modelling table and preparing features and target (CSV or Parquet, any columns)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import cast, overload

import numpy as np
import polars as pl

from ctown.errors import Invalid
from ctown.i18n import Message, _

#: Target labels understood as bad (1) / good (0) when the target column holds text.
BAD_LABELS = frozenset({"bad", "1", "yes", "y", "true", "default", "defaulted", "坏", "违约", "是"})
GOOD_LABELS = frozenset({"good", "0", "no", "n", "false", "non-default", "好", "正常", "否"})


@dataclass
class Prepared:
    features: pl.DataFrame
    y: np.ndarray
    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = field(default_factory=dict)


def read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pl.read_csv(path, infer_schema_length=None, null_values=["", "NA", "NaN", "null"])
    raise Invalid(Message(_("不支持的文件类型：{suffix}（请用 CSV 或 Parquet）"),
                          {"suffix": suffix}))


def encode_target(series: pl.Series) -> np.ndarray:
    """0/1 with 1 = bad. Text labels are mapped explicitly; anything else is an error."""
    if series.null_count():
        raise Invalid(Message(_("目标列 {name} 有 {n} 个空值"),
                              {"name": series.name, "n": series.null_count()}))
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        values = series.cast(pl.Float64).to_numpy()
        if not np.isin(values, (0.0, 1.0)).all():
            raise Invalid(Message(_("目标列 {name} 只能是 0/1（1 = 坏）"), {"name": series.name}))
        return values.astype(np.int8)
    labels = series.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    unknown = sorted(set(labels.unique().to_list()) - BAD_LABELS - GOOD_LABELS)
    if unknown:
        raise Invalid(Message(_("目标列 {name} 的取值无法识别为好/坏：{values}"),
                              {"name": series.name, "values": ", ".join(unknown[:5])}))
    return labels.is_in(list(BAD_LABELS)).to_numpy().astype(np.int8)


_ID_NAME = re.compile(r"(^|[_\s-])(id|no|key|uuid)$|^(id|no)[_\s-]|编号|序号", re.IGNORECASE)


def _is_identifier(col: pl.Series) -> bool:
    """A row id or a name: unique on every row, and text, a run of consecutive integers, or an
    id-like column name. (A measured amount that happens to be unique is kept.)"""
    n = len(col)
    if n < 50 or col.null_count() or col.dtype.is_float() or col.n_unique() != n:
        return False
    if not col.dtype.is_numeric():
        return True
    # Polars types min() and max() as any Python value: of this integer or decimal column, one.
    low, high = cast("int | Decimal", col.min()), cast("int | Decimal", col.max())
    consecutive = int(high) - int(low) + 1 == n
    return consecutive or bool(_ID_NAME.search(col.name))


def prepare(frame: pl.DataFrame, target: str, *, exclude: tuple[str, ...] = (),
            categorical: tuple[str, ...] = ()) -> Prepared:
    if target not in frame.columns:
        raise Invalid(Message(_("找不到目标列 {name}"), {"name": target}))
    y = encode_target(frame[target])
    if y.min() == y.max():
        raise Invalid(Message(_("目标列 {name} 只有一个类别，无法训练"), {"name": target}))
    dropped: dict[str, str] = {c: "excluded" for c in exclude if c in frame.columns}
    numeric, cats, keep = [], [], []
    for name in frame.columns:
        if name == target or name in dropped:
            continue
        col = frame[name]
        if col.null_count() == len(col) or col.n_unique() <= 1:
            dropped[name] = "constant"
        elif _is_identifier(col):
            dropped[name] = "identifier"
        elif not col.dtype.is_numeric() and col.n_unique() > max(200, len(col) // 5):
            # Free text or near-unique codes: thousands of tiny bins would only learn noise.
            dropped[name] = "high_cardinality"
        elif col.dtype.is_numeric() and name not in categorical:
            numeric.append(name)
            keep.append(col.cast(pl.Float64))
        else:
            cats.append(name)
            keep.append(as_category(col))
    return Prepared(pl.DataFrame(keep), y, numeric, cats, dropped)


@overload
def as_category(col: pl.Series) -> pl.Series: ...


@overload
def as_category(col: pl.Expr) -> pl.Expr: ...


def as_category(col: pl.Series | pl.Expr) -> pl.Series | pl.Expr:
    """Categories are compared as text, the same way in Python and in SQL (CAST AS TEXT)."""
    if isinstance(col, pl.Series) and col.dtype == pl.Boolean:
        col = col.cast(pl.Int8)
    return col.cast(pl.Utf8)


def fingerprint(frame: pl.DataFrame) -> str:
    """SHA-256 of the table's schema and rows: which data a model version learned from."""
    h = hashlib.sha256()
    h.update(repr(list(frame.schema.items())).encode())
    # CSV text rather than Polars' row hash: the hash function may change between versions.
    h.update(frame.write_csv().encode())
    return h.hexdigest()
