"""Feeds about money and law: 农商银行, 保险公司, 法院, 市场监管局, 税务局."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ctown.synth.context import World
from ctown.synth.formats import date_text, fixed
from ctown.synth.names import BANK_BRANCHES, CASE_CAUSES, INSURANCE_KINDS, TAX_OFFICES
from ctown.synth.risk import HISTORY_MONTHS, month_ends

ENTITY_LABEL = {"family_farm": "家庭农场", "cooperative": "农民专业合作社",
                "leading_enterprise": "有限责任公司"}


def _classify(days: pl.Expr) -> pl.Expr:
    """Five-category loan classification (贷款五级分类) from days past due."""
    return (pl.when(days == 0).then(pl.lit("正常")).when(days <= 90).then(pl.lit("关注"))
            .when(days <= 180).then(pl.lit("次级")).when(days <= 360).then(pl.lit("可疑"))
            .otherwise(pl.lit("损失")))


def loan_months(world: World) -> pl.DataFrame:
    """One row per borrower and month of the year before the snapshot while the loan ran."""
    h = world.households.filter(pl.col("borrower"))
    days = np.vstack(list(h["overdue_days"].to_numpy())) if h.height else np.zeros((0, HISTORY_MONTHS))
    loan_age = h["loan_age"].to_numpy()
    month_idx = np.arange(HISTORY_MONTHS)
    age_at = loan_age[:, None] - (HISTORY_MONTHS - 1 - month_idx)[None, :]
    rows, cols = np.nonzero(age_at >= 0)
    amount, term = h["amount"].to_numpy()[rows], h["term"].to_numpy()[rows]
    age_m = age_at[rows, cols]
    balance = np.round(amount * np.clip(1 - age_m / term, 0.05, 1), -2)
    second = h["second_loan"].to_numpy()[rows]
    balance = balance + np.where(second, np.round(amount * 0.3, -2), 0)
    instalment = np.round(amount / term + balance * 0.0045, 2)
    d = days[rows, cols]
    ends = np.array(month_ends(world.snapshot, HISTORY_MONTHS), dtype="datetime64[D]")
    return pl.DataFrame({
        "hh": h["hh"].to_numpy()[rows], "head_id": h["head_id"].to_numpy()[rows],
        "head_name": h["head_name"].to_numpy()[rows],
        "township_code": h["township_code"].to_numpy()[rows], "balance": balance,
        "count": 1 + second.astype(np.int64), "overdue_days": d,
        "overdue_amount": np.where(d > 0, instalment * np.ceil(d / 30), 0.0),
        "deposits": h["deposits"].to_numpy()[rows], "date": ends[cols]})


def bank(world: World) -> pl.DataFrame:
    loans = loan_months(world)
    rng = world.rng(10, 1)
    h = world.households.filter(~pl.col("borrower"))
    savers = h.filter(pl.Series(rng.random(h.height) < 0.5))
    only_deposits = pl.DataFrame({
        "hh": savers["hh"], "head_id": savers["head_id"], "head_name": savers["head_name"],
        "township_code": savers["township_code"], "balance": 0.0, "count": 0,
        "overdue_days": None, "overdue_amount": 0.0, "deposits": savers["deposits"],
        "date": world.snapshot}, schema_overrides={"overdue_days": pl.Int64})
    frame = pl.concat([loans, only_deposits], how="vertical_relaxed").sort("hh", "date")
    noise = rng.uniform(0.85, 1.15, frame.height)
    branch = np.array(BANK_BRANCHES)
    has_loan = pl.col("count") > 0
    return frame.with_columns(_noise=pl.Series(noise)).select(
        客户证件号码=pl.col("head_id"), 客户名称=pl.col("head_name"),
        **{"贷款余额（元）": fixed(pl.col("balance"), 2)},
        在贷笔数=pl.col("count").cast(pl.String),
        **{"逾期金额（元）": fixed(pl.col("overdue_amount"), 2)},
        逾期天数=pl.col("overdue_days").fill_null(0).cast(pl.String),
        **{"存款余额（万元）": fixed(pl.col("deposits") * pl.col("_noise"), 2)},
        五级分类=pl.when(has_loan).then(_classify(pl.col("overdue_days"))),
        本期按时还款=pl.when(has_loan).then(
            pl.when(pl.col("overdue_days") == 0).then(pl.lit("是")).otherwise(pl.lit("否"))),
        数据日期=date_text(pl.col("date"), "ymd"),
        网点名称=pl.col("hh").mod(branch.size).replace_strict(dict(enumerate(branch))),
        _town=pl.col("township_code"), _date=pl.col("date"))


def hidden_loans(world: World) -> pl.DataFrame:
    """Loan contracts behind the bank feed (for lending tests and model checks)."""
    h = world.households.filter(pl.col("borrower"))
    start = [world.snapshot - dt.timedelta(days=int(m) * 30) for m in h["loan_age"]]
    return h.select(
        loan_no=pl.lit("JK") + pl.col("household_no"), household_no=pl.col("household_no"),
        resident_id=pl.col("head_id"), amount=fixed(pl.col("amount"), 2),
        term_months=pl.col("term"), second_loan=pl.col("second_loan").cast(pl.Int8),
        months_overdue_past_year=pl.col("past_overdue")).with_columns(
        start_date=pl.Series(start, dtype=pl.Date))


def insur(world: World) -> pl.DataFrame:
    rng = world.rng(11, 1)
    h = world.households.filter(pl.col("insured"))
    n = h.height
    kind = np.where(h["pigs"].to_numpy() > 0, 1,
                    np.where(h["crop"].to_numpy() == "04", 2,
                             np.where(h["crop"].to_numpy() == "01", 0, 3)))
    area = (h["land"] + h["rented"]).to_numpy()
    sum_insured = np.where(kind == 1, h["pigs"].to_numpy() * 800.0,
                           np.where(kind == 3, 50000.0, np.round(area * 1000, -1)))
    start = np.datetime64(world.snapshot, "D") - rng.integers(0, 360, n).astype("timedelta64[D]")
    kinds = np.array(INSURANCE_KINDS)
    return h.with_columns(_kind=pl.Series(kinds[kind]), _sum=pl.Series(sum_insured),
                          _premium=pl.Series(np.round(sum_insured * rng.uniform(0.01, 0.02, n),
                                                      2)),
                          _start=pl.Series(start), _serial=pl.Series(np.arange(1, n + 1))).select(
        保单号=pl.lit(f"PZAA{world.snapshot.year}{world.county.region_part}")
        + pl.col("_serial").cast(pl.String).str.zfill(7),
        被保险人=pl.col("head_name"), 被保险人证件号码=pl.col("head_id"), 险种=pl.col("_kind"),
        **{"保险金额（元）": fixed(pl.col("_sum"), 2), "保费（元）": fixed(pl.col("_premium"), 2)},
        起保日期=date_text(pl.col("_start"), "iso"),
        终保日期=date_text(pl.col("_start").dt.offset_by("1y") - pl.duration(days=1), "iso"),
        _town=pl.col("township_code"), _date=pl.col("_start"))


def court(world: World) -> pl.DataFrame:
    rng = world.rng(6, 1)
    h = world.households
    plaintiff = (rng.random(h.height) < 0.01) & ~h["court_lost"].to_numpy()
    h = h.with_columns(_plaintiff=pl.Series(plaintiff)).filter(
        pl.col("court_lost") | pl.col("_plaintiff"))
    n = h.height
    filed = np.datetime64(world.snapshot, "D") - rng.integers(20, 1000, n).astype("timedelta64[D]")
    causes = np.array(CASE_CAUSES)
    region4 = world.county.region_part[2:]
    return h.with_columns(_filed=pl.Series(filed), _no=pl.Series(rng.integers(1, 3000, n)),
                          _cause=pl.Series(causes[rng.integers(0, causes.size, n)])).select(
        案号="（" + pl.col("_filed").dt.year().cast(pl.String) + "）浙" + region4
        + pl.when(pl.col("enforced")).then(pl.lit("执")).otherwise(pl.lit("民初"))
        + pl.col("_no").cast(pl.String) + "号",
        案由=pl.col("_cause"),
        当事人名称=pl.col("head_name"), 证件号码=pl.col("head_id"),
        出生日期=date_text(pl.col("head_birth"), "zh0"), 住所村代码=pl.col("village_code"),
        诉讼地位=pl.when(pl.col("_plaintiff")).then(pl.lit("原告"))
        .when(pl.col("enforced")).then(pl.lit("被执行人")).otherwise(pl.lit("被告")),
        败诉=pl.when(pl.col("court_lost")).then(pl.lit("是")).otherwise(pl.lit("否")),
        被执行人=pl.when(pl.col("enforced")).then(pl.lit("是")).otherwise(pl.lit("否")),
        失信被执行人=pl.when(pl.col("dishonest")).then(pl.lit("是")).otherwise(pl.lit("否")),
        **{"执行标的（元）": pl.when(pl.col("enforced")).then(fixed(pl.col("enforce_amount"), 2))},
        立案日期=date_text(pl.col("_filed"), "zh"),
        _town=pl.col("township_code"), _date=pl.col("_filed"))


def samr(world: World) -> pl.DataFrame:
    e = world.entities
    founded = np.datetime64(world.snapshot, "D") - e["founded_days"].to_numpy().astype(
        "timedelta64[D]")
    return e.with_columns(_founded=pl.Series(founded)).select(
        统一社会信用代码=pl.col("credit_code"), 主体名称=pl.col("name"),
        主体类型=pl.col("kind").replace_strict(ENTITY_LABEL),
        法定代表人=pl.col("legal_rep"), 法定代表人证件号码=pl.col("legal_rep_id"),
        住所所在村代码=pl.col("village_code"),
        住所=pl.col("village_code").replace_strict(world.village_names),
        成立日期=date_text(pl.col("_founded"), "iso"),
        **{"注册资本（万元）": fixed(pl.col("capital"), 1)},
        从业人数=pl.col("employees").cast(pl.String),
        行政处罚=pl.when(pl.col("penalty")).then(pl.lit("有")).otherwise(pl.lit("无")),
        **{"罚没款金额（元）": fixed(pl.col("fine"), 2)},
        列入经营异常名录=pl.when(pl.col("abnormal")).then(pl.lit("是")).otherwise(pl.lit("否")),
        许可证状态=pl.col("licence"),
        数据日期=date_text(pl.lit(world.snapshot), "iso"),
        _town=pl.col("township_code"), _date=pl.lit(world.snapshot))


def tax(world: World) -> pl.DataFrame:
    parts = []
    offices = np.array(TAX_OFFICES)
    for back in (2, 1):
        rng = world.rng(5, back)
        e = world.entities
        n = e.height
        end = dt.date(world.snapshot.year - back, 12, 31)
        grow = rng.uniform(0.85, 1.1, n) if back == 2 else np.ones(n)
        parts.append(e.with_columns(
            _rev=e["revenue"] * grow, _paid=e["tax_paid"] * grow,
            _arrears=e["tax_arrears"] * (back == 1), _end=pl.lit(end),
            _office=pl.Series(offices[rng.integers(0, offices.size, n)])))
    e = pl.concat(parts)
    return e.select(
        纳税人识别号=pl.col("credit_code"), 纳税人名称=pl.col("name"),
        纳税信用级别=pl.col("tax_grade"),
        **{"营业收入（万元）": fixed(pl.col("_rev"), 2), "已缴税额（元）": fixed(pl.col("_paid"), 2),
           "欠税余额（元）": fixed(pl.col("_arrears"), 2)},
        主管税务所=pl.col("_office"),
        所属期止=date_text(pl.col("_end"), "iso"),
        _town=pl.col("township_code"), _date=pl.col("_end"))
