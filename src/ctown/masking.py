"""Classification and masking (分级分类, 脱敏), a foundation below every capability: one table
decides, for each role and each sensitivity level of the catalogue, whether a value is shown in
clear, masked, or not at all.

Screens, the credit file, the credit report and exports all go through :func:`visibility`;
exports apply the same table to whole columns with :func:`apply_to_frame` (Polars), so a file
never shows more than the screen. Names and identifiers of persons (the register, the credit
file's heading) follow :func:`identity`, and are masked by :func:`mask_resident_id`,
:func:`mask_phone` and :func:`mask_name`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from ctown.accounts.roles import Role

SENSITIVITIES = ("public", "internal", "sensitive", "core")


class Visibility(StrEnum):
    clear = "clear"
    masked = "masked"
    hidden = "hidden"


C, M, H = Visibility.clear, Visibility.masked, Visibility.hidden

#: role → (public, internal, sensitive, core). The farmer sees their own file in clear (PIPL art.
#: 45); outsiders of the credit process see little; "core" data (judgments, debts) is for the
#: officers who verify it and, under consent, the bank's decision — masked, never raw.
POLICY: dict[Role, tuple[Visibility, Visibility, Visibility, Visibility]] = {
    Role.county_admin: (C, C, C, M),
    Role.township_officer: (C, C, C, M),
    Role.village_officer: (C, C, M, M),
    Role.evaluation_member: (C, M, H, H),
    Role.credit_proxy: (C, C, C, M),
    Role.bank_officer: (C, C, M, M),
    Role.department_feed: (C, H, H, H),
    Role.farmer: (C, C, C, C),
    Role.evaluator: (C, M, M, H),
    Role.insurer: (C, M, H, H),
    Role.merchant: (C, H, H, H),
    Role.privacy_officer: (C, M, M, M),
}


def visibility(role: Role | str, sensitivity: str) -> Visibility:
    """How ``role`` sees a value of ``sensitivity``; unknown levels are treated as "core"."""
    levels = POLICY[Role(role)]
    index = SENSITIVITIES.index(sensitivity) if sensitivity in SENSITIVITIES else 3
    return levels[index]


# -- names and identifiers of persons ------------------------------------------------------------
#: Roles that see resident IDs and phone numbers in clear (others see them masked).
CLEAR_IDENTIFIER_ROLES = frozenset({Role.village_officer, Role.township_officer})

#: Roles that see names and birth dates of the subjects in their scope (others see 张*丰).
CLEAR_NAME_ROLES = frozenset({Role.county_admin, Role.township_officer, Role.village_officer,
                              Role.evaluation_member, Role.credit_proxy, Role.bank_officer,
                              Role.privacy_officer})


@dataclass(frozen=True)
class Identity:
    """What of a person's identity a viewer sees in clear."""

    names: bool
    identifiers: bool


def identity(role: Role | str | None, own: bool = False) -> Identity:
    """Names and identifiers in clear for ``role``; ``own``: the viewer's own household (PIPL
    art. 45: a farmer sees their own data in clear); ``None``: the county's own job."""
    if role is None or own:
        return Identity(names=True, identifiers=True)
    return Identity(names=Role(role) in CLEAR_NAME_ROLES,
                    identifiers=Role(role) in CLEAR_IDENTIFIER_ROLES)


def table() -> list[dict[str, str]]:
    """The policy as rows (for the privacy page and the docs)."""
    return [{"role": str(role), **{s: str(v) for s, v in zip(SENSITIVITIES, levels, strict=True)}}
            for role, levels in POLICY.items()]


# -- masking of values -------------------------------------------------------------------------
def mask_number(value: float) -> str:
    """An order of magnitude instead of the amount: 37,500 → "1万–10万"."""
    if value == 0:
        return "0"
    magnitude = 10 ** math.floor(math.log10(abs(value)))
    low, high = magnitude, magnitude * 10
    return f"{'-' if value < 0 else ''}{_fmt(low)}–{_fmt(high)}"


def _fmt(x: float) -> str:
    if x >= 10_000:
        return f"{x / 10_000:g}万"
    return f"{x:g}"


def mask_value(value: object) -> str:
    """A masked display of any indicator value (number → range, date → year, text → first char)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "**"
    if isinstance(value, int | float):
        return mask_number(float(value))
    if isinstance(value, dt.date):
        return f"{value.year}-**-**"
    return str(value)[:1] + "**"  # fixed width: the length says nothing either


def shown(role: Role | str, sensitivity: str, value: object, display: str) -> str | None:
    """What ``role`` is shown for a value: the display, a masked form, or None (hidden)."""
    vis = visibility(role, sensitivity)
    if vis is Visibility.hidden:
        return None
    return display if vis is Visibility.clear else mask_value(value)


# -- exports ------------------------------------------------------------------------------------
def apply_to_frame(frame: pl.DataFrame, role: Role | str, sensitivity_of: dict[str, str],
                   code_col: str = "indicator_code", num_col: str = "value_num",
                   text_col: str = "value_text") -> pl.DataFrame:
    """The same policy over a whole export: hidden rows dropped, masked values replaced.

    ``sensitivity_of`` maps indicator codes to their catalogue sensitivity. The result keeps the
    columns, with ``value_num`` null and ``value_text`` the masked form where masked.
    """
    codes = sorted(set(sensitivity_of))
    vis = pl.DataFrame({code_col: codes,
                        "_vis": [str(visibility(role, sensitivity_of[c])) for c in codes]})
    joined = frame.join(vis, on=code_col, how="left").with_columns(
        pl.col("_vis").fill_null(str(Visibility.hidden)))
    masked_num = _mask_number_expr(pl.col(num_col))
    masked_text = (pl.col(text_col).str.slice(0, 1) + pl.lit("**"))
    is_masked = pl.col("_vis") == str(Visibility.masked)
    return (joined.filter(pl.col("_vis") != str(Visibility.hidden))
            .with_columns(
                pl.when(is_masked).then(
                    pl.when(pl.col(num_col).is_not_null()).then(masked_num).otherwise(masked_text)
                ).otherwise(pl.col(text_col)).alias(text_col),
                pl.when(is_masked).then(None).otherwise(pl.col(num_col)).alias(num_col))
            .drop("_vis"))


def _magnitude_text(e: pl.Expr) -> pl.Expr:
    return (pl.when(e >= 10_000).then((e / 10_000).cast(pl.Int64).cast(pl.String) + "万")
            .when(e >= 1).then(e.cast(pl.Int64).cast(pl.String))
            .otherwise(e.cast(pl.String)))


def _mask_number_expr(x: pl.Expr) -> pl.Expr:
    """:func:`mask_number` over a column, without a Python call per row."""
    low = pl.lit(10.0).pow(x.abs().log10().floor())
    sign = pl.when(x < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return (pl.when(x == 0).then(pl.lit("0"))
            .otherwise(sign + _magnitude_text(low) + "–" + _magnitude_text(low * 10)))


# -- identifiers and names ---------------------------------------------------------------------
def mask_resident_id(value: str | None) -> str:
    """``330521199001011234`` → ``3305**********1234``: region prefix and last four stay."""
    if not value:
        return ""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """``13812345678`` → ``138****5678``."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """``张三丰`` → ``张*丰``; ``王五`` → ``王*`` (the family name stays, as on village notices)."""
    if not value:
        return ""
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]
