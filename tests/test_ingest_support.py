"""A tiny county written by hand for the ingest tests: regions, a household register (GB18030
CSV), a bank report (UTF-8 CSV with BOM) and social security rows (JSON), with known defects."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.orm import Session

from ctown.crypto import FieldCipher
from ctown.registry.identifiers import resident_id_check_char, uscc_check_char
from ctown.registry.tasks import load_regions

COUNTY, TOWN, V1, V2 = "330521000000", "330521100000", "330521100001", "330521100002"
REGIONS = [
    {"code": COUNTY, "name": "清溪县", "name_en": "Qingxi", "level": "county", "parent_code": ""},
    {"code": TOWN, "name": "城关镇", "name_en": "Chengguan", "level": "township",
     "parent_code": COUNTY},
    {"code": V1, "name": "东村", "name_en": "Dongcun", "level": "village", "parent_code": TOWN},
    {"code": V2, "name": "西村", "name_en": "Xicun", "level": "village", "parent_code": TOWN},
]


def rid(birth: str, seq: int) -> str:
    first = f"330521{birth}{seq:03d}"
    return first + resident_id_check_char(first)


def uscc(n: int) -> str:
    first = f"93330521MA{n:07d}"
    return first + uscc_check_char(first)


HEAD1, WIFE1, HEAD2, HEAD3 = rid("19700101", 11), rid("19720202", 22), rid("19650303", 31), \
    rid("19800404", 41)
# A person registered by psb whom social security later sends without an ID (fallback match).
MEMBER = rid("19950505", 51)

PSB_HEADER = ["户号", "姓名", "公民身份号码", "与户主关系", "性别", "出生日期", "所属村代码",
              "联系电话", "文化程度", "婚姻状况", "变动日期"]
PSB_ROWS = [
    ["H001", "张三", HEAD1, "户主", "男", "1970-01-01", V1, "13800000001", "初中", "已婚",
     "2025年5月1日"],
    ["H001", "李梅", WIFE1, "妻", "女", "1972/2/2", V1, "", "小学", "已婚", "20250501"],
    ["H001", "张小五", MEMBER, "子", "男", "19950505", V1, "", "大学本科", "未婚", "2025-05-01"],
    ["H002", "王五", HEAD2, "户主", "男", "1965-03-03", V2, "", "高中", "丧偶", "2025-05-01"],
    ["H003", "赵六", HEAD3, "户主", "男", "1980-04-04", V2, "", "大专", "已婚", "45778"],
    # defects: Excel number, bad check character, unknown village, unknown code, missing name
    ["H004", "钱七", "3.30521E+17", "户主", "男", "1981-01-01", V1, "", "初中", "已婚",
     "2025-05-01"],
    ["H005", "孙八", HEAD3[:17] + ("0" if HEAD3[17] != "0" else "1"), "户主", "男",
     "1980-04-04", V2, "", "初中", "已婚", "2025-05-01"],
    ["H006", "周九", rid("19750606", 61), "户主", "男", "1975-06-06", "330521999999", "", "初中",
     "已婚", "2025-05-01"],
    ["H007", "吴十", rid("19760707", 71), "户主", "男", "1976-07-07", V1, "", "博士后", "已婚",
     "2025-05-01"],
    ["H008", "", rid("19770808", 81), "户主", "男", "1977-08-08", V1, "", "初中", "已婚",
     "2025-05-01"],
]
PSB_ROWS.append(list(PSB_ROWS[0]))  # an exact duplicate row
PSB_GOOD, PSB_BAD, PSB_DUP = 5, 5, 1

BANK_HEADER = ["客户证件号码", "客户名称", "贷款余额（元）", "在贷笔数", "逾期金额（元）", "逾期天数",
               "存款余额（万元）", "五级分类", "本期按时还款", "数据日期", "网点名称"]
BANK_ROWS = [
    [HEAD1, "张三", "1,200,000.00", "1", "0", "0", "３.５", "正常", "是", "2025-06-30", "城关支行"],
    [HEAD2, "王五", "50000", "1", "1200", "35", "0.8", "关注", "否", "2025/6/30", "城关支行"],
    [HEAD3, "赵六", "abc", "1", "0", "0", "1", "正常", "是", "2025-06-30", "城关支行"],
    [rid("19900909", 91), "未登记", "100", "1", "0", "0", "1", "正常", "是", "2025-06-30", "城关"],
    [WIFE1, "李梅", "-5", "1", "0", "0", "1", "正常", "是", "2025-06-30", "城关支行"],
]
BANK_GOOD = 2   # HEAD1 and HEAD2; the others: not a number, unregistered, out of range

HRSS_ROWS = [
    {"社会保障号码": HEAD1, "姓名": "张三", "出生日期": "1970-01-01", "参保村代码": V1,
     "养老保险参保状态": "参保缴费", "医疗保险参保状态": "已参保", "累计缴费月数": 120,
     "年缴费工资（元）": "36000", "统计日期": "2025-06-30"},
    # no identifier, but name + birth date + village match 张小五 → held for a person to confirm
    {"社会保障号码": "", "姓名": "张小五", "出生日期": "1995年5月5日", "参保村代码": V1,
     "养老保险参保状态": "参保缴费", "医疗保险参保状态": "已参保", "累计缴费月数": 24,
     "年缴费工资（元）": "48000", "统计日期": "2025-06-30"},
    # no identifier and no match → quarantined
    {"社会保障号码": "", "姓名": "无名氏", "出生日期": "1990-01-01", "参保村代码": V1,
     "养老保险参保状态": "参保缴费", "医疗保险参保状态": "已参保", "累计缴费月数": 1,
     "年缴费工资（元）": "1", "统计日期": "2025-06-30"},
]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_county(root: Path) -> Path:
    """A folder laid out like ``ctown synth`` output."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "regions.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(REGIONS[0]))
        w.writeheader()
        w.writerows(REGIONS)
    write_csv(root / "psb" / "psb_1.csv", PSB_HEADER, PSB_ROWS, "gb18030")
    write_csv(root / "bank" / "bank_1.csv", BANK_HEADER, BANK_ROWS, "utf-8-sig")
    (root / "hrss").mkdir(exist_ok=True)
    (root / "hrss" / "hrss_1.json").write_text(json.dumps(HRSS_ROWS, ensure_ascii=False),
                                              encoding="utf-8")
    (root / "_hidden").mkdir(exist_ok=True)
    (root / "_hidden" / "truth.csv").write_text("not a feed\n", encoding="utf-8")
    return root


def cipher_at(tmp: Path) -> FieldCipher:
    return FieldCipher.load(tmp / "keys.json")


def seed_regions(session: Session) -> None:
    load_regions(session, REGIONS)


def consent_all(session: Session) -> int:
    """Every registered household signs its collection consent (信息采集授权书), so the
    consent-required values of the feeds go straight into the credit file."""
    import datetime as dt

    import sqlalchemy as sa

    from ctown.privacy.service import grant_collection_consent
    from ctown.registry.models import Subject

    households = session.scalars(sa.select(Subject.id).where(Subject.kind == "household")).all()
    for hh in households:
        grant_collection_consent(session, None, subject_id=hh, signed_on=dt.date(2025, 1, 2),
                                 form_no=f"T-{hh}")
    return len(households)
