"""Classification and masking (分级分类, 脱敏), a foundation below every capability: one table
decides, for each role and each sensitivity level of the catalogue, whether a value is shown in
clear, masked, or not at all.

Screens, the credit file, the credit report and exports all go through :func:`visibility`;
exports apply the same table to whole columns with :func:`apply_to_frame` (Polars), so a file
never shows more than the screen. What a masked value looks like follows the indicator's catalogue
type (:data:`MASK_OF_TYPE`), on both paths. Names and identifiers of persons (the register, the credit
file's heading) follow :func:`identity`, and are masked by :func:`mask_resident_id`,
:func:`mask_phone` and :func:`mask_name`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
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


class Mask(StrEnum):
    """How a masked value is shown, decided by the indicator's catalogue type (never by how the
    value happens to be stored: a yes/no is stored as 1.0/0.0, a code as text)."""

    whole = "whole"  # "**": a yes/no or a code has so few values that any part of it tells it
    magnitude = "magnitude"  # 37,500 → "1万–10万"
    year = "year"  # 2020-05-01 → "2020-**-**"
    initial = "initial"  # 某某法院 → "某**"


#: Catalogue type (:data:`ctown.catalogue.schemas.IndicatorType`) → how its values are masked.
#: A type not listed — an indicator the catalogue no longer knows — is masked whole.
MASK_OF_TYPE: dict[str, Mask] = {
    "integer": Mask.magnitude, "decimal": Mask.magnitude, "boolean": Mask.whole,
    "code": Mask.whole, "date": Mask.year, "text": Mask.initial}
#: An indicator code the catalogue does not know (a retired one): its type is unknown.
UNKNOWN_TYPE = "unknown"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}"


def mask_of(kind: str) -> Mask:
    return MASK_OF_TYPE.get(kind, Mask.whole)


def _kind_of(value: object) -> str:
    """The type of a value given without its indicator (callers that hold no catalogue)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "decimal"
    if isinstance(value, dt.date):
        return "date"
    return "text"


def mask_value(value: object, kind: str | None = None) -> str:
    """A masked display of an indicator value of catalogue type ``kind`` (see :data:`MASK_OF_TYPE`:
    boolean and code → "**", number → its order of magnitude, date → its year, text → first
    character); ``None``: the type is taken from the Python value. A value that does not fit its
    type is masked whole. :func:`apply_to_frame` applies the same rule to whole columns."""
    if value is None:
        return ""
    mask = mask_of(kind if kind is not None else _kind_of(value))
    if mask is Mask.magnitude and isinstance(value, int | float | Decimal) and not isinstance(
            value, bool):
        return mask_number(float(value))
    if mask is Mask.year and isinstance(value, dt.date):
        return f"{value.year}-**-**"
    if mask is Mask.year and isinstance(value, str) and re.match(_ISO_DATE, value):
        return f"{value[:4]}-**-**"
    if mask is Mask.initial:
        return str(value)[:1] + "**"  # fixed width: the length says nothing either
    return "**"


def shown(role: Role | str, sensitivity: str, value: object, display: str,
          kind: str | None = None) -> str | None:
    """What ``role`` is shown for a value of catalogue type ``kind``: the display, a masked form,
    or None (hidden)."""
    vis = visibility(role, sensitivity)
    if vis is Visibility.hidden:
        return None
    return display if vis is Visibility.clear else mask_value(value, kind)


# -- exports ------------------------------------------------------------------------------------
def apply_to_frame(frame: pl.DataFrame, role: Role | str, sensitivity_of: dict[str, str],
                   type_of: dict[str, str], code_col: str = "indicator_code",
                   num_col: str = "value_num", text_col: str = "value_text") -> pl.DataFrame:
    """The same policy over a whole export: hidden rows dropped, masked values replaced.

    ``sensitivity_of`` and ``type_of`` map indicator codes to their catalogue sensitivity and
    type. The result keeps the columns, with ``value_num`` null and ``value_text`` the masked
    form (:func:`mask_value`'s rule, as column expressions) where masked.
    """
    codes = sorted(set(sensitivity_of))
    vis = pl.DataFrame({code_col: codes,
                        "_vis": [str(visibility(role, sensitivity_of[c])) for c in codes],
                        "_mask": [str(mask_of(type_of.get(c, UNKNOWN_TYPE))) for c in codes]})
    joined = frame.join(vis, on=code_col, how="left").with_columns(
        pl.col("_vis").fill_null(str(Visibility.hidden)))
    is_masked = pl.col("_vis") == str(Visibility.masked)
    return (joined.filter(pl.col("_vis") != str(Visibility.hidden))
            .with_columns(
                pl.when(is_masked).then(_mask_expr(pl.col("_mask"), pl.col(num_col),
                                                   pl.col(text_col)))
                .otherwise(pl.col(text_col)).alias(text_col),
                pl.when(is_masked).then(None).otherwise(pl.col(num_col)).alias(num_col))
            .drop("_vis", "_mask"))


def _mask_expr(mask: pl.Expr, num: pl.Expr, text: pl.Expr) -> pl.Expr:
    """:func:`mask_value` over columns, without a Python call per row."""
    whole = pl.lit("**")
    return (pl.when(num.is_null() & text.is_null()).then(pl.lit(None, dtype=pl.String))
            .when(mask == str(Mask.magnitude)).then(
                pl.when(num.is_not_null()).then(_mask_number_expr(num)).otherwise(whole))
            .when(mask == str(Mask.year)).then(
                pl.when(text.str.contains(_ISO_DATE)).then(text.str.slice(0, 4) + "-**-**")
                .otherwise(whole))
            .when(mask == str(Mask.initial)).then(
                pl.coalesce(text, num.cast(pl.String)).str.slice(0, 1) + "**")
            .otherwise(whole))


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
