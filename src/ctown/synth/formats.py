"""How departments spell dates and numbers (each its own way), as Polars expressions."""

from __future__ import annotations

import datetime as dt

import polars as pl

EXCEL_EPOCH_OFFSET = 25569  # days from 1899-12-30 (Excel's day 0) to 1970-01-01
DATE_STYLES = {
    "iso": "%Y-%m-%d",
    "ymd": "%Y%m%d",
    "slash": "%Y/%-m/%-d",
    "zh": "%Y年%-m月%-d日",
    "zh0": "%Y年%m月%d日",
}


def date_text(expr: pl.Expr, style: str) -> pl.Expr:
    if style == "serial":
        return (expr.cast(pl.Int32) + EXCEL_EPOCH_OFFSET).cast(pl.String)
    return expr.dt.strftime(DATE_STYLES[style])


def fixed(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A float as text with exactly ``decimals`` decimals (vectorised, no Python per row)."""
    scale: int = 10**decimals
    scaled = (expr * scale).round(0).cast(pl.Int64)
    whole = (scaled // scale).cast(pl.String)
    if decimals == 0:
        return whole
    return whole + "." + (scaled % scale).cast(pl.String).str.zfill(decimals)


def thousands(expr: pl.Expr) -> pl.Expr:
    """'1234567.50' → '1,234,567.50' (a defect: Excel's number format exported as text)."""
    whole = expr.str.extract(r"^(\d+)", 1)
    rest = expr.str.extract(r"^\d+(\..*)?$", 1).fill_null("")
    grouped = (whole.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.reverse()
               .str.strip_chars_start(","))
    return grouped + rest


def days_before(snapshot: dt.date, days: pl.Expr) -> pl.Expr:
    return pl.lit(snapshot) - pl.duration(days=days)
