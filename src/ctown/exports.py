"""Files the platform writes for people to open in a spreadsheet (导出): a text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel and WPS (CSV
injection, OWASP), and department text flows into exports. Such cells get a leading apostrophe,
which spreadsheets show as text and do not store; numbers are left alone (a negative amount is a
number column, not text)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: What makes a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like cells prefixed by an apostrophe, in one pass per
    column (Polars expressions, no Python call per cell)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c)).alias(c) for c in text)


def write_csv(frame: pl.DataFrame, path: Path | None = None) -> str | None:
    """A CSV for people: formulas neutralised; to ``path``, or returned as text."""
    safe = neutralise_formulas(frame)
    if path is None:
        return safe.write_csv()
    safe.write_csv(path)
    return None
