"""The one sensitivity → visibility table, on screens and on whole export frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ctown import masking
from ctown.accounts.roles import Role
from ctown.catalogue.service import load_catalogue
from ctown.masking import Visibility


def test_every_role_has_a_row_and_farmers_see_their_own_file() -> None:
    assert set(masking.POLICY) == set(Role)
    assert all(masking.visibility(Role.farmer, s) is Visibility.clear
               for s in masking.SENSITIVITIES)
    assert masking.visibility(Role.merchant, "internal") is Visibility.hidden
    assert masking.visibility(Role.bank_officer, "core") is Visibility.masked
    assert masking.visibility("bank_officer", "unknown-level") is Visibility.masked  # as core
    # Visibility never widens with sensitivity.
    order = [Visibility.clear, Visibility.masked, Visibility.hidden]
    for levels in masking.POLICY.values():
        ranks = [order.index(v) for v in levels]
        assert ranks == sorted(ranks)


@pytest.mark.parametrize(("value", "masked"), [
    (37_500, "1万–10万"), (123, "100–1000"), (-5, "-1–10"), (0, "0"), (True, "**"),
    ("张三丰", "张**"), (dt.date(2020, 5, 1), "2020-**-**"), (None, "")])
def test_mask_value(value: object, masked: str) -> None:
    assert masking.mask_value(value) == masked


def test_shown() -> None:
    assert masking.shown(Role.bank_officer, "public", 5, "5 头") == "5 头"
    assert masking.shown(Role.bank_officer, "sensitive", 37_500, "37,500 元") == "1万–10万"
    assert masking.shown(Role.merchant, "sensitive", 37_500, "37,500 元") is None


def test_exports_follow_the_same_table() -> None:
    catalogue = load_catalogue()
    sensitivity = {c: i.sensitivity for c, i in catalogue.indicators.items()}
    by_level = {lvl: next(c for c, s in sorted(sensitivity.items()) if s == lvl)
                for lvl in masking.SENSITIVITIES}
    frame = pl.DataFrame({
        "subject_id": [1, 1, 1, 1, 1],
        "indicator_code": [*by_level.values(), "Z9999"],
        "value_num": [12.0, 37_500.0, 250.0, None, 1.0],
        "value_text": [None, None, None, "某某法院", None]})
    for role in Role:
        out = masking.apply_to_frame(frame, role, sensitivity)
        for row in out.iter_rows(named=True):
            level = sensitivity[row["indicator_code"]]
            vis = masking.visibility(role, level)
            assert vis is not Visibility.hidden
            original = frame.filter(pl.col("indicator_code") == row["indicator_code"]).row(
                0, named=True)
            if vis is Visibility.clear:
                assert row["value_num"] == original["value_num"]
            else:
                assert row["value_num"] is None
                expected = masking.mask_value(original["value_num"] if original["value_num"]
                                             is not None else original["value_text"])
                assert row["value_text"] == expected
        shown = set(out["indicator_code"])
        assert "Z9999" not in shown  # not in the catalogue: never exported
        assert shown == {c for lvl, c in by_level.items()
                         if masking.visibility(role, lvl) is not Visibility.hidden}
