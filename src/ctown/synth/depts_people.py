"""Feeds about people and households: 公安户籍, 人社, 农业农村, 自然资源, 村评议, 民政, 供电供水通信.

Each builder returns the department's rows as text in its own column names, plus ``_town`` (the
township, one file each) and ``_date`` (the record date, for date-format defects).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ctown.synth.context import World
from ctown.synth.formats import date_text, fixed

EDU_LABEL = {"10": "研究生", "20": "大学本科", "30": "大学专科", "40": "高中", "50": "初中",
             "60": "小学", "90": "文盲或半文盲"}
MARITAL_LABEL = {"10": "未婚", "20": "已婚", "30": "丧偶", "40": "离婚"}
FARM_TYPE_LABEL = {1: "纯农户", 2: "农业兼业户", 3: "非农兼业户", 4: "非农户"}
CROP_LABEL = {"01": "水稻", "02": "小麦", "03": "玉米", "04": "茶叶", "05": "蔬菜", "06": "水果",
              "07": "生猪", "08": "水产", "99": "其他"}
RULES_LABEL = {1: "优秀", 2: "良好", 3: "一般", 4: "较差"}


def _yes(expr: pl.Expr, yes: str = "是", no: str = "否") -> pl.Expr:
    return pl.when(expr).then(pl.lit(yes)).otherwise(pl.lit(no))


def _town(world: World, village: pl.Expr) -> pl.Expr:
    return village.str.slice(0, 9) + "000"


def psb(world: World) -> pl.DataFrame:
    p = world.people
    rng = world.rng(1, 1)
    changed = np.minimum(rng.integers(0, 3650, p.height), (p["age"].to_numpy() * 365).clip(1))
    vnames = world.village_names
    relation = (pl.when(pl.col("relation") == "配偶")
                .then(pl.when(pl.col("male")).then(pl.lit("夫")).otherwise(pl.lit("妻")))
                .when(pl.col("relation") == "子女")
                .then(pl.when(pl.col("male")).then(pl.lit("子")).otherwise(pl.lit("女")))
                .when(pl.col("relation") == "父母")
                .then(pl.when(pl.col("male")).then(pl.lit("父亲")).otherwise(pl.lit("母亲")))
                .when(pl.col("relation") == "孙子女")
                .then(pl.when(pl.col("male")).then(pl.lit("孙子")).otherwise(pl.lit("孙女")))
                .otherwise(pl.col("relation")))
    return p.with_columns(_date=pl.lit(world.snapshot) - pl.duration(days=pl.lit(pl.Series(changed))),
                          _n=pl.Series(rng.integers(1, 300, p.height))).select(
        户号=pl.col("household_no"), 姓名=pl.col("name"), 公民身份号码=pl.col("resident_id"),
        与户主关系=relation, 性别=_yes(pl.col("male"), "男", "女"),
        出生日期=date_text(pl.col("birth"), "ymd"), 所属村代码=pl.col("village_code"),
        联系电话=pl.col("phone"),
        文化程度=pl.when(pl.col("age") >= 7).then(pl.col("education").replace_strict(EDU_LABEL)),
        婚姻状况=pl.col("marital").replace_strict(MARITAL_LABEL),
        户籍地址="浙江省湖州市" + world.county.name
        + pl.col("village_code").str.slice(0, 9).add("000").replace_strict(world.township_names)
        + pl.col("village_code").replace_strict(vnames) + pl.col("_n").cast(pl.String) + "号",
        变动日期=date_text(pl.col("_date"), "iso"),
        _town=_town(world, pl.col("village_code")), _date=pl.col("_date"))


def hrss(world: World) -> pl.DataFrame:
    p = world.people.filter(pl.col("age") >= 16)
    rng = world.rng(7, 1)
    n = p.height
    age = p["age"].to_numpy()
    enrolled = rng.random(n) < 0.93
    employed = (age < 60) & (rng.random(n) < 0.45)
    months = np.where(enrolled, np.minimum((age - 16) * 12, rng.integers(12, 480, n)), 0)
    wage = np.where(employed, np.round(rng.lognormal(10.7, 0.35, n), -2), np.nan)
    pension = np.where(~enrolled, "未参保", np.where(age >= 60, "待遇领取", "参保缴费"))
    return p.with_columns(_pension=pl.Series(pension), _months=pl.Series(months),
                          _wage=pl.Series(wage, nan_to_null=True),
                          _med=pl.Series(rng.random(n) < 0.97),
                          _kind=pl.Series(np.where(employed, "企业职工", "城乡居民"))).select(
        社会保障号码=pl.col("resident_id"), 姓名=pl.col("name"),
        出生日期=date_text(pl.col("birth"), "ymd"), 参保村代码=pl.col("village_code"),
        参保险种=pl.col("_kind"), 养老保险参保状态=pl.col("_pension"),
        医疗保险参保状态=_yes(pl.col("_med"), "已参保", "未参保"),
        累计缴费月数=pl.col("_months").cast(pl.String),
        **{"年缴费工资（元）": fixed(pl.col("_wage"), 0)},
        统计日期=date_text(pl.lit(world.snapshot), "ymd"),
        _town=_town(world, pl.col("village_code")), _date=pl.lit(world.snapshot))


def agri(world: World) -> pl.DataFrame:
    h = world.households.filter((pl.col("farm_type") < 4) | (pl.col("land") > 1))
    survey = dt.date(world.snapshot.year, 3, 31)
    if survey > world.snapshot:
        survey = dt.date(world.snapshot.year - 1, 12, 31)
    return h.select(
        户主身份证号=pl.col("head_id"), 户主姓名=pl.col("head_name"),
        乡镇=pl.col("township_code").replace_strict(world.township_names),
        村名=pl.col("village_code").replace_strict(world.village_names),
        村代码=pl.col("village_code"),
        农户类型=pl.col("farm_type").replace_strict(FARM_TYPE_LABEL, return_dtype=pl.String),
        **{"承包地面积（亩）": fixed(pl.col("land"), 2),
           "流转入面积（亩）": fixed(pl.col("rented"), 1),
           "播种面积（亩）": fixed(pl.col("sown"), 2)},
        主要品种=pl.col("crop").replace_strict(CROP_LABEL),
        **{"生猪存栏（头）": pl.col("pigs").cast(pl.String),
           "牛羊存栏（头）": pl.col("cattle").cast(pl.String),
           "农机数量（台）": pl.col("machines").cast(pl.String),
           "农机具原值（万元）": fixed(pl.col("machine_value"), 2),
           "农业经营收入（元）": fixed(pl.col("farm_income"), 0),
           "惠农补贴（元）": fixed(pl.col("subsidy"), 0)},
        填报日期=date_text(pl.lit(survey), "slash"),
        _town=pl.col("township_code"), _date=pl.lit(survey))


def nres(world: World) -> pl.DataFrame:
    rng = world.rng(2, 1)
    h = world.households.filter(pl.Series(rng.random(world.households.height) < 0.95))
    n = h.height
    registered = np.datetime64(world.snapshot, "D") - rng.integers(30, 3000, n).astype(
        "timedelta64[D]")
    serial = np.arange(1, n + 1)
    return h.with_columns(_date=pl.Series(registered), _serial=pl.Series(serial)).select(
        权利人证件号码=pl.col("head_id"), 权利人=pl.col("head_name"),
        坐落村代码=pl.col("village_code"),
        坐落=pl.col("village_code").replace_strict(world.village_names) + "宅基地",
        不动产单元号=pl.col("village_code").str.slice(0, 6) + pl.col("village_code").str.slice(6, 6)
        + "JC" + pl.col("_serial").cast(pl.String).str.zfill(5) + "F00010001",
        **{"宅基地面积（㎡）": fixed(pl.col("homestead"), 1),
           "房屋建筑面积（㎡）": fixed(pl.col("floor_area"), 1)},
        发证状态=_yes(pl.col("certified"), "已发证", "未发证"),
        登簿日期=date_text(pl.col("_date"), "iso"),
        _town=pl.col("township_code"), _date=pl.col("_date"))


def _quarter_ends(snapshot: dt.date, count: int) -> list[dt.date]:
    out: list[dt.date] = []
    d = snapshot
    while len(out) < count:
        q_end_month = ((d.month - 1) // 3) * 3 + 3
        end = dt.date(d.year + (q_end_month == 12), q_end_month % 12 + 1, 1) - dt.timedelta(1)
        review = end - dt.timedelta(days=2)
        if review <= snapshot:
            out.append(review)
        d = dt.date(d.year, ((d.month - 1) // 3) * 3 + 1, 1) - dt.timedelta(days=1)
    return out[::-1]


def village(world: World) -> pl.DataFrame:
    parts = []
    for q, day in enumerate(_quarter_ends(world.snapshot, 2)):
        rng = world.rng(12, q)
        h = world.households
        n = h.height
        rules = np.clip(h["rules"].to_numpy() + rng.choice([-1, 0, 0, 0, 1], n), 1, 4)
        parts.append(h.with_columns(
            _rules=pl.Series(rules),
            _hours=pl.Series(np.round(h["volunteer_hours"].to_numpy() * rng.uniform(0.3, 0.7, n),
                                      1)),
            _disputes=pl.Series(rng.binomial(h["disputes"].to_numpy(), 0.6)),
            _env=pl.Series(np.clip(h["environment"].to_numpy() + rng.integers(-5, 6, n), 0, 100)),
            _date=pl.lit(day)))
    h = pl.concat(parts)
    return h.select(
        身份证号=pl.col("head_id"), 户主=pl.col("head_name"),
        出生日期=date_text(pl.col("head_birth"), "iso"), 村代码=pl.col("village_code"),
        家庭常住人口=pl.col("size").cast(pl.String), 劳动力人数=pl.col("labour").cast(pl.String),
        **{"家庭年收入（万元）": fixed(pl.col("income") / 10000, 2)},
        遵守村规民约=pl.col("_rules").replace_strict(RULES_LABEL, return_dtype=pl.String),
        **{"志愿服务时长（小时）": fixed(pl.col("_hours"), 1),
           "邻里纠纷（次）": pl.col("_disputes").cast(pl.String)},
        人居环境评分=pl.col("_env").cast(pl.String),
        评议人=pl.lit("村信用评议小组"),
        评议日期=date_text(pl.col("_date"), "zh"),
        _town=pl.col("township_code"), _date=pl.col("_date"))


def civil(world: World) -> pl.DataFrame:
    h = world.households
    poorest = h["income"].rank("ordinal").to_numpy() <= max(1, round(h.height * 0.025))
    rng = world.rng(8, 1)
    h = h.with_columns(_dibao=pl.Series(poorest),
                       _stopped=pl.Series(rng.random(h.height) < 0.01),
                       _date=pl.lit(world.snapshot) - pl.duration(
                           days=pl.lit(pl.Series(rng.integers(10, 700, h.height)))))
    h = h.filter(pl.col("_dibao") | pl.col("_stopped") | pl.col("civil_honour")
                 | (pl.col("awards") > 0) | pl.col("good_person"))
    honour = (pl.when(pl.col("good_person")).then(pl.lit("身边好人"))
              .when(pl.col("civil_honour")).then(pl.lit("文明家庭"))
              .when(pl.col("awards") > 0).then(pl.lit("最美家庭")))
    return h.select(
        户主身份证号码=pl.col("head_id"), 户主姓名=pl.col("head_name"),
        出生日期=date_text(pl.col("head_birth"), "slash"), 村代码=pl.col("village_code"),
        低保状态=pl.when(pl.col("_dibao")).then(pl.lit("在保"))
        .when(pl.col("_stopped")).then(pl.lit("停保")).otherwise(pl.lit("否")),
        文明家庭=_yes(pl.col("civil_honour")),
        县级以上表彰次数=pl.col("awards").cast(pl.String),
        道德模范或身边好人=_yes(pl.col("good_person")),
        荣誉名称=honour, 认定日期=date_text(pl.col("_date"), "iso"),
        _town=pl.col("township_code"), _date=pl.col("_date"))


def util(world: World) -> pl.DataFrame:
    parts = []
    h = world.households
    n = h.height
    account = (pl.lit("33") + (pl.Series(np.arange(n)) * 7919 + 1000000003).cast(pl.String))
    water_billed = world.rng(9, 99).random(n) < 0.6
    arrears = np.zeros(n)
    for m, month in enumerate((1, 2, 3)):
        rng = world.rng(9, m)
        day = _reading_day(world.snapshot, 3 - month)
        p = h["bill_on_time_p"].to_numpy()
        power, water, phone = (rng.random(n) < p for _ in range(3))
        arrears = np.where(power & phone, 0, arrears + np.round(rng.lognormal(4.5, 0.6, n), 2))
        parts.append(h.with_columns(
            _acct=account, _power=pl.Series(power), _water=pl.Series(water),
            _wbilled=pl.Series(water_billed), _phone=pl.Series(phone),
            _arrears=pl.Series(arrears), _kwh=pl.Series(rng.gamma(4, 45, n).round(0)),
            _date=pl.lit(day)))
    h = pl.concat(parts)
    status = {True: "按时", False: "逾期"}
    return h.select(
        用户编号=pl.col("_acct"), 户名=pl.col("head_name"), 户主证件号=pl.col("head_id"),
        电费缴纳=pl.col("_power").replace_strict(status, return_dtype=pl.String),
        水费缴纳=pl.when(pl.col("_wbilled")).then(
            pl.col("_water").replace_strict(status, return_dtype=pl.String)),
        话费缴纳=pl.col("_phone").replace_strict(status, return_dtype=pl.String),
        **{"累计欠费（元）": fixed(pl.col("_arrears"), 2),
           "用电量（千瓦时）": fixed(pl.col("_kwh"), 0)},
        抄表日期=date_text(pl.col("_date"), "iso"),
        _town=pl.col("township_code"), _date=pl.col("_date"))


def _reading_day(snapshot: dt.date, months_back: int) -> dt.date:
    """Meters are read on the 25th; the latest reading is the last 25th on or before the snapshot."""
    months_back += 0 if snapshot.day >= 25 else 1
    index = snapshot.year * 12 + snapshot.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 25)
